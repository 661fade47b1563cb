// Micro-benchmarks of BuildGenerator and the Dockerfile tools: generation per
// template, and parse / lint / optimize of a ~100-line Dockerfile.
#include <string>

#include "benchmark/benchmark.h"
#include "core/buildgen/build_generator.h"
#include "core/buildgen/dockerfile_linter.h"
#include "core/buildgen/dockerfile_optimizer.h"
#include "core/buildgen/dockerfile_parser.h"

namespace dkd::core {
namespace {

const char* const kTemplates[] = {"python", "node", "java", "go", "rust", "dotnet", "generic"};

void BM_GenerateDockerfile(benchmark::State& state) {
  BuildConfig c;
  c.build_type = kTemplates[state.range(0)];
  c.main = "app";
  c.port = 8080;
  c.metadata = {{"project_name", "demo"}, {"version", "1.0.0"}};
  c.environment = {{"LOG_LEVEL", "info"}};
  BuildGenerator gen;
  state.SetLabel(c.build_type);
  for (auto _ : state) {
    auto r = gen.GenerateDockerfile(c);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GenerateDockerfile)->DenseRange(0, 6);

// About 100 lines: three stages with apt, pip, continuations and comments.
std::string HundredLineDockerfile() {
  std::string text = "# syntax=docker/dockerfile:1\nARG BASE=debian:12\n";
  for (int stage = 0; stage < 3; ++stage) {
    text += "\nFROM ${BASE} AS s" + std::to_string(stage) + "\n# stage setup\nWORKDIR /app\n";
    text += "ENV A=1 B=\"two words\" \\\n    C=3\n";
    text +=
        "RUN apt-get update && \\\n    apt-get install -y curl git \\\n      make && \\\n"
        "    rm -rf /var/lib/apt/lists/*\n";
    for (int i = 0; i < 6; ++i) {
      text += "RUN pip install pkg" + std::to_string(i) + "==1.0 | tee /tmp/log\n";
      text += "COPY src" + std::to_string(i) + " ./src" + std::to_string(i) + "\n";
    }
    text += "RUN cd /app && make build; chmod 777 /app/out\nLABEL a=b c=d\nEXPOSE 8080\n";
  }
  text +=
      "USER app\nHEALTHCHECK CMD [\"wget\", \"-q\", \"--spider\", \"http://127.0.0.1/\"]\n"
      "CMD [\"/app/run\"]\n";
  return text;
}

void BM_Parse(benchmark::State& state) {
  std::string text = HundredLineDockerfile();
  for (auto _ : state) {
    auto p = ParseDockerfile(text);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Parse);

void BM_Lint(benchmark::State& state) {
  std::string text = HundredLineDockerfile();
  DockerfileLinter linter;
  for (auto _ : state) {
    LintResult r = linter.Lint(text);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Lint);

void BM_Optimize(benchmark::State& state) {
  std::string text = HundredLineDockerfile();
  for (auto _ : state) {
    auto r = OptimizeDockerfile(text);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Optimize);

}  // namespace
}  // namespace dkd::core
