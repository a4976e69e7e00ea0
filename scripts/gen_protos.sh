#!/usr/bin/env bash
# Regenerate the checked-in gRPC/protobuf stubs under fedgov/v1/ from protos/.
# Pinned generator: grpcio-tools 1.81.x (flwr 1.42 needs protobuf < 7; 1.82+ needs 7).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
cd "$root"
python -m grpc_tools.protoc -Iprotos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/fedgov/v1/*.proto
