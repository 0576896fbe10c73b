# Shell helpers shared by the bench scripts (sourced, not run).

free_port() { # a port free on both TCP and UDP of 127.0.0.1
  /usr/bin/python3 - <<'PY'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()
PY
}
wait_tcp() { # wait_tcp PORT PID LOG
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited:" >&2; tail -n 20 "$3" >&2; exit 1; }
    sleep 0.05
  done
  echo "nothing listens on 127.0.0.1:$1" >&2; exit 1
}
