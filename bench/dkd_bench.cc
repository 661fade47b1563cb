// dkd_bench: side-by-side measurements that need an in-process client.
//
//   dkd_bench list TARGET ENGINE N
//     ListContainers(all) through dkd on a warm channel vs the same engine call
//     (GET /containers/json?all=1) made directly over the engine socket,
//     alternating, N rounds each. Prints medians, p90 and the ratio.
//   dkd_bench listload TARGET ENGINE CLIENTS SECONDS
//     Throughput of ListContainers(all) with CLIENTS concurrent callers, each
//     on its own connection, through dkd and then directly on the engine
//     socket (each caller its own kept-alive connection), alternating three
//     times for SECONDS each. Prints calls per second (median of the three)
//     and the ratio dkd / direct.
//   dkd_bench buildlog TARGET BASE_IMAGE LINES BYTES [classic|buildkit]
//     Builds an image whose RUN step prints LINES lines of /proc/uptime (one
//     every 20 ms) and then BYTES bytes of filler, with the classic builder
//     (the default) or BuildKit. Reports, per uptime line, CLOCK_BOOTTIME at
//     arrival minus the uptime the container printed (the engine-to-client
//     latency; /proc/uptime has 10 ms resolution, so each figure over-states
//     the latency by 0-10 ms), and checks that every filler byte arrived. The
//     classic builder's output arrives as `log` events, BuildKit's as
//     `vertex_log` events. BuildKit clips a step's log (1 MiB, 100 KiB/s in
//     BuildKit v0.8 unless dockerd sets BUILDKIT_STEP_LOG_MAX_SIZE and
//     BUILDKIT_STEP_LOG_MAX_SPEED); `clipped yes` says the engine's clipping
//     notice arrived, and the received byte count is what the engine sent.
// Output is a few "key value" lines for scripts/bench.sh to tabulate.
#include <grpcpp/grpcpp.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/engine/engine_address.h"
#include "core/engine/engine_client.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int List(const std::string& target, const std::string& engine_host, int n) {
  auto stub = dkd::v1::DockerManager::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto address = dkd::core::ParseEngineAddress(engine_host);
  if (!address.ok()) {
    std::cerr << address.status() << "\n";
    return 2;
  }
  dkd::core::EngineClient engine(*address);
  dkd::core::EngineRequest direct;
  direct.path = "/containers/json";
  direct.query = {{"all", "1"}};
  auto generator = dkd::v1::BuildGenerator::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  std::vector<double> via_dkd, via_socket, floor;
  size_t containers = 0;
  for (int i = 0; i < n + 5; ++i) {  // The first 5 rounds warm both paths.
    double t0 = NowMs();
    grpc::ClientContext ctx;
    dkd::v1::ListContainersRequest req;
    req.set_show_all(true);
    dkd::v1::ListContainersResponse resp;
    grpc::Status s = stub->ListContainers(&ctx, req, &resp);
    double t1 = NowMs();
    auto body = engine.Call(direct);
    double t2 = NowMs();
    if (!s.ok() || !body.ok()) {
      std::cerr << "call failed: " << s.error_message() << " / " << body.status() << "\n";
      return 1;
    }
    // The gRPC floor: a call that does almost nothing (lint of one line).
    grpc::ClientContext lint_ctx;
    dkd::v1::LintDockerfileRequest lint;
    lint.set_dockerfile("FROM x:1\n");
    dkd::v1::LintDockerfileResponse lint_resp;
    double t3 = NowMs();
    generator->LintDockerfile(&lint_ctx, lint, &lint_resp);
    double t4 = NowMs();
    containers = static_cast<size_t>(resp.containers_size());
    if (i >= 5) {
      via_dkd.push_back(t1 - t0);
      via_socket.push_back(t2 - t1);
      floor.push_back(t4 - t3);
    }
  }
  const double p50_dkd = Percentile(via_dkd, 0.5), p50_direct = Percentile(via_socket, 0.5);
  std::printf("containers %zu\nrounds %d\n", containers, n);
  std::printf("dkd_p50_ms %.3f\ndkd_p90_ms %.3f\n", p50_dkd, Percentile(via_dkd, 0.9));
  std::printf("direct_p50_ms %.3f\ndirect_p90_ms %.3f\n", p50_direct, Percentile(via_socket, 0.9));
  std::printf("ratio_p50 %.3f\n", p50_dkd / p50_direct);
  std::printf("grpc_floor_p50_ms %.3f\n", Percentile(floor, 0.5));
  return 0;
}

// Calls per second of `call` made by `clients` threads for `seconds`.
double Throughput(int clients, double seconds, const std::function<bool(int client)>& call) {
  std::atomic<long> calls{0};
  std::atomic<bool> failed{false};
  const double end = NowMs() + seconds * 1000;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      while (NowMs() < end) {
        if (!call(c)) {
          failed = true;
          return;
        }
        ++calls;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed ? -1 : static_cast<double>(calls.load()) / seconds;
}

int ListLoad(const std::string& target, const std::string& engine_host, int clients,
             double seconds) {
  auto address = dkd::core::ParseEngineAddress(engine_host);
  if (!address.ok()) {
    std::cerr << address.status() << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // One "speaks API" line per client otherwise.
  std::vector<std::unique_ptr<dkd::v1::DockerManager::Stub>> stubs;
  std::vector<std::unique_ptr<dkd::core::EngineClient>> engines;
  for (int c = 0; c < clients; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("dkd.bench.connection", c);  // A connection per caller.
    stubs.push_back(dkd::v1::DockerManager::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
    engines.push_back(std::make_unique<dkd::core::EngineClient>(*address));
  }
  dkd::core::EngineRequest direct;
  direct.path = "/containers/json";
  direct.query = {{"all", "1"}};
  auto via_dkd = [&](int c) {
    grpc::ClientContext ctx;
    dkd::v1::ListContainersRequest req;
    req.set_show_all(true);
    dkd::v1::ListContainersResponse resp;
    return stubs[c]->ListContainers(&ctx, req, &resp).ok();
  };
  auto via_socket = [&](int c) { return engines[c]->Call(direct).ok(); };
  Throughput(clients, 0.5, via_dkd);  // Warm both paths.
  Throughput(clients, 0.5, via_socket);
  std::vector<double> dkd_rates, direct_rates;
  for (int round = 0; round < 3; ++round) {
    dkd_rates.push_back(Throughput(clients, seconds, via_dkd));
    direct_rates.push_back(Throughput(clients, seconds, via_socket));
  }
  const double d = Percentile(dkd_rates, 0.5), e = Percentile(direct_rates, 0.5);
  if (d < 0 || e < 0) {
    std::cerr << "a call failed\n";
    return 1;
  }
  std::printf("clients %d\ndkd_calls_per_s %.1f\ndirect_calls_per_s %.1f\nratio %.3f\n", clients, d,
              e, d / e);
  return 0;
}

int BuildLog(const std::string& target, const std::string& base, int lines, long long bytes,
             bool buildkit) {
  auto stub = dkd::v1::DockerManager::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  // Filler: 64-byte lines (63 characters and a newline).
  const long long filler_lines = bytes / 64;
  const std::string dockerfile =
      absl::StrCat("FROM ", base, "\n", "RUN i=0; while [ $i -lt ", lines,
                   " ]; do echo \"uptime $(cat /proc/uptime)\"; usleep 20000; i=$((i+1)); done; ",
                   "yes 012345678901234567890123456789012345678901234567890123456789012 | head -n ",
                   filler_lines, "; echo filler-done\n");
  // A one-file tar holding the Dockerfile (ustar header + content + padding).
  std::string tar(512, '\0');
  std::snprintf(&tar[0], 100, "Dockerfile");
  std::snprintf(&tar[100], 8, "0000644");
  std::snprintf(&tar[108], 8, "0000000");
  std::snprintf(&tar[116], 8, "0000000");
  std::snprintf(&tar[124], 12, "%011o", static_cast<unsigned>(dockerfile.size()));
  std::snprintf(&tar[136], 12, "%011o", 0u);
  tar[156] = '0';
  std::snprintf(&tar[257], 6, "ustar");
  tar[263] = '0';
  tar[264] = '0';
  std::fill(tar.begin() + 148, tar.begin() + 156, ' ');
  unsigned sum = 0;
  for (unsigned char c : tar) sum += c;
  std::snprintf(&tar[148], 8, "%06o", sum);
  tar += dockerfile;
  tar.append((512 - dockerfile.size() % 512) % 512, '\0');
  tar.append(1024, '\0');

  grpc::ClientContext ctx;
  auto stream = stub->BuildImage(&ctx);
  dkd::v1::BuildImageRequest first;
  first.mutable_spec()->mutable_config()->set_image_name("dkd-bench-buildlog");
  first.mutable_spec()->set_no_pull(true);
  first.mutable_spec()->set_no_cache(true);
  first.mutable_spec()->set_builder(buildkit ? dkd::v1::BuildSpec::BUILDER_BUILDKIT
                                             : dkd::v1::BuildSpec::BUILDER_CLASSIC);
  stream->Write(first);
  dkd::v1::BuildImageRequest chunk;
  chunk.set_context_chunk(tar);
  stream->Write(chunk);
  stream->WritesDone();
  std::vector<double> latency_ms;
  long long filler_bytes = 0;
  bool done_marker = false, clipped = false;
  // Partial lines, per BuildKit vertex (one key, "", for the classic builder).
  std::map<std::string, std::string> partials;
  dkd::v1::BuildEvent e;
  while (stream->Read(&e)) {
    std::string* partial = nullptr;
    if (e.has_log()) {
      partial = &partials[""];
      *partial += e.log().text();
    } else if (e.has_vertex_log() && e.vertex_log().stream() == 1) {
      partial = &partials[e.vertex_log().vertex()];
      *partial += e.vertex_log().data();
    } else if (e.has_vertex_log()) {  // stderr: BuildKit writes its clipping notice there.
      if (absl::StrContains(e.vertex_log().data(), "output clipped")) clipped = true;
      continue;
    } else {
      continue;
    }
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    const double arrival = now.tv_sec * 1000.0 + now.tv_nsec / 1e6;
    size_t nl;
    while ((nl = partial->find('\n')) != std::string::npos) {
      absl::string_view line(partial->data(), nl);
      if (absl::ConsumePrefix(&line, "uptime ")) {
        double up = 0;
        if (absl::SimpleAtod(line.substr(0, line.find(' ')), &up)) {
          latency_ms.push_back(arrival - up * 1000.0);
        }
      } else if (line.size() == 63 && line[0] == '0') {
        filler_bytes += 64;
      } else if (line == "filler-done") {
        done_marker = true;
      } else if (absl::StrContains(line, "output clipped")) {
        clipped = true;
      }
      partial->erase(0, nl + 1);
    }
  }
  grpc::Status s = stream->Finish();
  if (!s.ok()) {
    std::cerr << "build failed: " << s.error_message() << "\n";
    return 1;
  }
  std::printf("builder %s\n", buildkit ? "buildkit" : "classic");
  std::printf("latency_lines %zu\n", latency_ms.size());
  std::printf("latency_p50_ms %.1f\nlatency_p99_ms %.1f\nlatency_max_ms %.1f\n",
              Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.99),
              Percentile(latency_ms, 1.0));
  std::printf("filler_expected_bytes %lld\nfiller_received_bytes %lld\nfiller_complete %s\n",
              filler_lines * 64, filler_bytes,
              (done_marker && filler_bytes == filler_lines * 64) ? "yes" : "NO");
  std::printf("clipped %s\n", clipped ? "yes" : "no");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 4 && a[0] == "list") return List(a[1], a[2], std::stoi(a[3]));
  if (a.size() == 5 && a[0] == "listload") {
    return ListLoad(a[1], a[2], std::stoi(a[3]), std::stod(a[4]));
  }
  if ((a.size() == 5 || a.size() == 6) && a[0] == "buildlog" &&
      (a.size() == 5 || a[5] == "classic" || a[5] == "buildkit")) {
    return BuildLog(a[1], a[2], std::stoi(a[3]), std::stoll(a[4]),
                    a.size() == 6 && a[5] == "buildkit");
  }
  std::cerr << "usage: dkd_bench list TARGET ENGINE N | listload TARGET ENGINE CLIENTS SECONDS |"
               " buildlog TARGET BASE LINES BYTES [classic|buildkit]\n";
  return 2;
}
