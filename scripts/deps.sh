#!/usr/bin/env bash
# Installs what the tests use beyond Go: DICOM tools from Debian (dcmtk,
# dicom3tools, pydicom, GDCM) and the versitygw S3 server. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in dcmdump:dcmtk dciodvfy:dicom3tools gdcmanon:libgdcm-tools pdftotext:poppler-utils \
    chromium:chromium Orthanc:orthanc; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
/usr/bin/python3 -c 'import pydicom, numpy' >/dev/null 2>&1 || need+=(python3-pydicom python3-numpy)
command -v /usr/bin/time >/dev/null 2>&1 || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "deps: missing Debian packages: ${need[*]} (run as root: apt-get install -y ${need[*]})" >&2
    exit 1
  fi
fi
# quic-go wants 7 MiB UDP buffers; raise the caps where allowed (a
# container may refuse: then QUIC runs with smaller buffers and says so).
if [ "$(id -u)" -eq 0 ]; then
  sysctl -qw net.core.rmem_max=7500000 net.core.wmem_max=7500000 2>/dev/null || true
fi
if [ -x scripts/s3test.sh ]; then
  scripts/s3test.sh install
fi
