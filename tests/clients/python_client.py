"""A dkd client in Python, generated only from proto/: calls Ping and Health.

usage: python_client.py PROTO_DIR TARGET
Exits non-zero with a message when a call fails or answers unexpectedly.
"""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile


def main() -> int:
    proto_dir, target = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="dkd-py-")
    protos = ["dkd/v1/docker_manager.proto", "dkd/v1/build_generator.proto",
              "dkd/v1/image_optimizer.proto"]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
                    f"--python_out={out}", f"--grpc_python_out={out}", *protos], check=True)
    # Python's own "grpc" package shadows a generated grpc/health module, so the
    # health proto is compiled from a differently named folder; the protobuf
    # package (and so the wire name grpc.health.v1.Health) is unchanged.
    std = os.path.join(out, "_std")
    os.makedirs(os.path.join(std, "dkd_std"))
    shutil.copy(os.path.join(proto_dir, "grpc/health/v1/health.proto"),
                os.path.join(std, "dkd_std", "health.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{std}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    "dkd_std/health.proto"], check=True)
    sys.path.insert(0, out)
    import grpc  # noqa: E402
    dm_pb2 = importlib.import_module("dkd.v1.docker_manager_pb2")
    dm_grpc = importlib.import_module("dkd.v1.docker_manager_pb2_grpc")
    health_pb2 = importlib.import_module("dkd_std.health_pb2")
    health_grpc = importlib.import_module("dkd_std.health_pb2_grpc")

    channel = grpc.insecure_channel(target)
    # dkd wants credentials on TCP; on loopback its local token will do.
    metadata = []
    token_file = os.environ.get("DKD_TOKEN_FILE")
    if token_file:
        with open(token_file) as f:
            metadata.append(("authorization", "Bearer " + f.read().strip()))
    ping = dm_grpc.DockerManagerStub(channel).Ping(dm_pb2.PingRequest(), timeout=10,
                                                   metadata=metadata)
    if not ping.engine_version or not ping.api_version:
        print(f"Ping answered without versions: {ping}")
        return 1
    print(f"Ping: engine {ping.engine_version}, API {ping.api_version}, {ping.os}/{ping.arch}")
    health = health_grpc.HealthStub(channel)
    for service in ["", "dkd.v1.DockerManager", "dkd.v1.BuildGenerator"]:
        resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        if resp.status != health_pb2.HealthCheckResponse.SERVING:
            print(f"health of {service!r} is {resp.status}, want SERVING")
            return 1
        print(f"Health {service or '(server)'}: SERVING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
