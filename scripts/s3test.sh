#!/usr/bin/env bash
# s3test.sh — the S3 test server (versitygw, POSIX back end) for dicomgate.
#
#   scripts/s3test.sh install   install versitygw at the version pinned in tools/go.mod
#                               into $(go env GOPATH)/bin; does nothing if already there
#   scripts/s3test.sh path      print the binary's path (installing it if needed)
#   scripts/s3test.sh start     start it on 127.0.0.1:<free port> with a temp root and
#                               print `export VAR=...` lines:  eval "$(scripts/s3test.sh start)"
#                               (the bucket does not exist yet: create it, e.g. S3Config.CreateBucket)
#   scripts/s3test.sh stop      stop the server started by `start` (uses DICOMGATE_S3_PID)
#
# Go tests do not need `start`: storetest.StartS3(t) runs its own server; they only need
# the binary (`install`). Set CI=true or DICOMGATE_REQUIRE_S3=1 to make a missing binary
# fail those tests instead of skipping them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/../tools"
module=github.com/versity/versitygw

# Fixed test credentials (the same as storetest.S3Test*); they guard a loopback-only server.
access_key=dicomgate-test
secret_key=dicomgate-test-secret
bucket=dicomgate-test
region=us-east-1

log() { echo "s3test: $*" >&2; }

pinned_version() {
	(cd "$tools" && go list -m -f '{{.Version}}' "$module")
}

bin_path() {
	local gopath
	gopath="$(go env GOPATH)"
	echo "${gopath%%:*}/bin/versitygw"
}

installed_version() { # prints the module version the binary was built from, or nothing
	go version -m "$1" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}

cmd_install() {
	local version bin
	version="$(pinned_version)"
	bin="$(bin_path)"
	if [[ -x "$bin" && "$(installed_version "$bin")" == "$version" ]]; then
		log "versitygw $version already installed at $bin"
		return
	fi
	log "installing versitygw $version into $(dirname "$bin") (takes a minute)"
	# Build from the tools module, so go.sum there verifies every dependency.
	(cd "$tools" && GOBIN="$(dirname "$bin")" go install "$module/cmd/versitygw")
	[[ "$(installed_version "$bin")" == "$version" ]] || { log "install failed: $bin is not $version"; exit 1; }
	log "installed $bin"
}

free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	log "no free port found"
	exit 1
}

cmd_start() {
	cmd_install
	local bin dir port pid
	bin="$(bin_path)"
	dir="$(mktemp -d "${TMPDIR:-/tmp}/dicomgate-s3.XXXXXX")"
	mkdir -p "$dir/root"
	port="$(free_port)"
	ROOT_ACCESS_KEY= ROOT_SECRET_KEY= nohup "$bin" --port "127.0.0.1:$port" \
		--access "$access_key" --secret "$secret_key" --region "$region" --quiet \
		posix "$dir/root" >"$dir/versitygw.log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			cat <<-ENV
			export DICOMGATE_VERSITYGW=$bin
			export DICOMGATE_S3_ENDPOINT=127.0.0.1:$port
			export DICOMGATE_S3_BUCKET=$bucket
			export DICOMGATE_S3_ACCESS_KEY=$access_key
			export DICOMGATE_S3_SECRET_KEY=$secret_key
			export DICOMGATE_S3_REGION=$region
			export DICOMGATE_S3_PID=$pid
			export DICOMGATE_S3_DIR=$dir
			ENV
			log "versitygw running on 127.0.0.1:$port (pid $pid, root $dir/root, log $dir/versitygw.log)"
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log "versitygw exited:"; cat "$dir/versitygw.log" >&2; exit 1
		fi
		sleep 0.1
	done
	kill "$pid"; log "versitygw did not answer on 127.0.0.1:$port"; exit 1
}

cmd_stop() {
	: "${DICOMGATE_S3_PID:?run: eval \"\$(scripts/s3test.sh start)\" first}"
	kill "$DICOMGATE_S3_PID" 2>/dev/null || true
	if [[ -n "${DICOMGATE_S3_DIR:-}" && "$DICOMGATE_S3_DIR" == */dicomgate-s3.* ]]; then
		rm -rf "$DICOMGATE_S3_DIR"
	fi
	log "stopped pid $DICOMGATE_S3_PID"
}

case "${1:-}" in
install) cmd_install ;;
path) cmd_install; bin_path ;;
start) cmd_start ;;
stop) cmd_stop ;;
*) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
