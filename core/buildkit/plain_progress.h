// PlainProgress: renders BuildKit progress as text in the shape of
// `docker build --progress=plain` ("#5 [2/3] RUN make", "#5 0.447 output",
// "#5 DONE 1.2s", "#4 CACHED", "#6 ERROR: ..."), from SolveStatus updates.
//
// Steps are numbered in the order BuildKit first mentions them. When output
// switches from an unfinished step to another, the unfinished one gets
// "#N ..." and the other its header again, as docker prints it. Partial log
// lines are held until their newline (or the step's end). Deterministic: it
// orders by the updates' own timestamps, never by the wall clock. Not
// thread-safe: one per build.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/buildkit/solve_status.h"

namespace dkd::core::buildkit {

class PlainProgress {
 public:
  // The text to print for `update` (possibly empty).
  std::string Render(const SolveStatus& update);
  // Text still held (a partial last log line of an unfinished step), for the
  // end of the build.
  std::string Flush();

  // The number docker shows for the step with `digest` (0 if unknown).
  int IndexOf(const std::string& digest) const;

 private:
  struct Step {
    int index = 0;
    Vertex vertex;
    std::vector<std::string> status_order;  // Status ids in first-seen order.
    std::map<std::string, VertexStatus> statuses;
    std::vector<std::string> changed_statuses;
    std::vector<std::string> lines;  // Whole log lines not yet printed.
    std::string partial;             // A log line without its newline yet.
    bool finished_printed = false;
  };
  Step& StepFor(const std::string& digest);
  void Print(Step& step, std::string& out);

  absl::flat_hash_map<std::string, Step> steps_;
  int next_index_ = 1;
  std::string current_;  // Digest of the step whose output was printed last.
};

// docker's figure for a duration in seconds: "%.1f".
std::string FormatSeconds(double seconds, int precision);
// docker's byte figures in progress lines ("91B", "2.05kB", "1.50MB").
std::string FormatBytes(int64_t bytes);

}  // namespace dkd::core::buildkit
