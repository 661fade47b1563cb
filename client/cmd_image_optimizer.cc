// dkctl analyze / compare / report: ImageOptimizer from the terminal, with
// dive's CI gate (`analyze --ci`).
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli_flags.h"
#include "client/dkctl_commands.h"
#include "nlohmann/json.hpp"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;

// Docker's human-readable size: decimal units, 3 significant digits.
std::string HumanSize(double bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  size_t unit = 0;
  while (std::fabs(bytes) >= 1000.0 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    bytes /= 1000.0;
    ++unit;
  }
  return absl::StrFormat("%.3g%s", bytes, kUnits[unit]);
}

std::string Truncate(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

std::string Percent(double fraction) { return absl::StrFormat("%.4f %%", fraction * 100); }

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

const char* ImpactName(pb::Impact i) {
  switch (i) {
    case pb::IMPACT_HIGH:
      return "high";
    case pb::IMPACT_MEDIUM:
      return "medium";
    case pb::IMPACT_LOW:
      return "low";
    default:
      return "-";
  }
}

std::string Saving(const pb::OptimizationSuggestion& s) {
  if (s.size_reduction_mb() <= 0) return "-";
  return HumanSize(s.size_reduction_mb() * 1e6) + (s.size_measured() ? "" : " (estimate)");
}

void PrintSuggestions(const std::vector<const pb::OptimizationSuggestion*>& list, bool numbered) {
  if (list.empty()) {
    std::cout << "\nNo suggestions.\n";
    return;
  }
  std::cout << absl::StrFormat("\n%s%-8s %-8s %-16s %-18s %s\n", numbered ? "STEP  " : "", "IMPACT",
                               "EFFORT", "CATEGORY", "SAVING", "DESCRIPTION");
  int step = 0;
  for (const pb::OptimizationSuggestion* s : list) {
    std::cout << absl::StrFormat("%s%-8s %-8s %-16s %-18s %s\n",
                                 numbered ? absl::StrFormat("%-5d ", ++step) : "",
                                 ImpactName(s->impact()), ImpactName(s->effort()), s->category(),
                                 Saving(*s), s->description());
    const std::string indent(numbered ? 6 : 0, ' ');
    if (!s->evidence().empty()) std::cout << indent << "  evidence: " << s->evidence() << "\n";
    for (const auto& c : s->dockerfile_changes())
      std::cout << indent << "  change:   " << c << "\n";
  }
}

const char* MethodName(pb::BaseImageMethod m) {
  switch (m) {
    case pb::BASE_IMAGE_METHOD_LAYER_PREFIX:
      return "found by layer prefix";
    case pb::BASE_IMAGE_METHOD_LABEL:
      return "from the base-name label";
    case pb::BASE_IMAGE_METHOD_HISTORY:
      return "guessed from history";
    default:
      return "not found";
  }
}

void PrintAnalysis(const pb::ImageAnalysis& a, bool with_suggestions) {
  std::cout << "Image:          " << a.image_name() << "\n"
            << "ID:             " << a.image_id() << "\n"
            << "Size:           " << HumanSize(static_cast<double>(a.size_bytes())) << " ("
            << a.size_bytes() << " bytes)\n"
            << "Base image:     " << (a.base_image().empty() ? "-" : a.base_image()) << " ("
            << MethodName(a.base_image_method()) << ")\n"
            << "User:           " << (a.user().empty() ? "root (none set)" : a.user()) << "\n"
            << "Health check:   " << (a.has_health_check() ? "yes" : "none") << "\n"
            << "Score:          " << a.optimization_score() << "/100\n";
  std::cout << absl::StrFormat("\n%-6s %-10s %s\n", "LAYER", "SIZE", "CREATED BY");
  int index = 0;
  for (const pb::Layer& l : a.layers()) {
    std::cout << absl::StrFormat("%-6s %-10s %s\n", l.empty_layer() ? "-" : std::to_string(index++),
                                 HumanSize(static_cast<double>(l.size_bytes())),
                                 Truncate(l.created_by(), 100));
  }
  if (a.has_efficiency()) {
    const pb::LayerEfficiency& e = a.efficiency();
    std::cout << "\nEfficiency:           " << Percent(e.efficiency()) << "\n"
              << "Wasted bytes:         " << e.wasted_bytes() << " bytes ("
              << HumanSize(static_cast<double>(e.wasted_bytes())) << ")\n"
              << "User wasted percent:  " << Percent(e.user_wasted_percent()) << "\n"
              << "Files walked:         " << e.files_walked() << "\n";
    if (e.top_wasted_size() > 0) {
      std::cout << absl::StrFormat("\n%-6s %-10s %-40s %s\n", "COUNT", "WASTED", "PATH",
                                   "BLAMED LAYER");
      for (const pb::WastedPath& w : e.top_wasted()) {
        std::cout << absl::StrFormat("%-6d %-10s %-40s %d: %s\n", w.occurrences(),
                                     HumanSize(static_cast<double>(w.wasted_bytes())), w.path(),
                                     w.blamed_layer(), Truncate(w.blamed_created_by(), 80));
      }
    }
  }
  if (with_suggestions) {
    std::vector<const pb::OptimizationSuggestion*> list;
    for (const auto& s : a.potential_optimizations()) list.push_back(&s);
    PrintSuggestions(list, false);
  }
}

// go-humanize's ParseBytes, which dive uses for highestWastedBytes.
absl::StatusOr<double> ParseHumanBytes(const std::string& text) {
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"b", 1},
                                                       {"k", 1e3},
                                                       {"kb", 1e3},
                                                       {"ki", 1024.0},
                                                       {"kib", 1024.0},
                                                       {"m", 1e6},
                                                       {"mb", 1e6},
                                                       {"mi", 1048576.0},
                                                       {"mib", 1048576.0},
                                                       {"g", 1e9},
                                                       {"gb", 1e9},
                                                       {"gi", 1073741824.0},
                                                       {"gib", 1073741824.0},
                                                       {"t", 1e12},
                                                       {"tb", 1e12},
                                                       {"ti", 1099511627776.0},
                                                       {"tib", 1099511627776.0},
                                                       {"p", 1e15},
                                                       {"pb", 1e15},
                                                       {"pi", 1125899906842624.0},
                                                       {"pib", 1125899906842624.0},
                                                       {"e", 1e18},
                                                       {"eb", 1e18},
                                                       {"ei", 1152921504606846976.0},
                                                       {"eib", 1152921504606846976.0}};
  size_t digits = 0;
  std::string number;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.' && c != ',') break;
    if (c != ',') number.push_back(c);
    ++digits;
  }
  double value = 0;
  auto unit = kUnits.find(absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(digits))));
  if (!absl::SimpleAtod(number, &value) || unit == kUnits.end()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid size \"", text, "\""));
  }
  value = std::floor(value * unit->second);
  if (value >= 18446744073709551615.0) {
    return absl::InvalidArgumentError(absl::StrCat("size too large: \"", text, "\""));
  }
  return value;
}

bool Disabled(const std::string& v) {
  const std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v));
  return s.empty() || s == "disabled" || s == "off" || s == "false";
}

struct CiResult {
  std::string key, status, message;
};

// dive's three CI rules, in dive's order; InvalidArgument for a bad threshold.
absl::StatusOr<std::vector<CiResult>> EvaluateCi(const FlagSet& flags,
                                                 const pb::LayerEfficiency& e) {
  std::vector<CiResult> out;
  auto fraction = [](const std::string& flag, const std::string& v) -> absl::StatusOr<double> {
    double d = 0;
    if (!absl::SimpleAtod(v, &d) || d < 0 || d > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", v, "\" is not a fraction between 0 and 1"));
    }
    return d;
  };
  const std::string eff = flags.Get("lowest-efficiency");
  if (Disabled(eff)) {
    out.push_back({"lowestEfficiency", "SKIP", "rule disabled"});
  } else {
    auto t = fraction("lowest-efficiency", eff);
    if (!t.ok()) return t.status();
    const bool fail = *t > e.efficiency();
    out.push_back(
        {"lowestEfficiency", fail ? "FAIL" : "PASS",
         fail ? absl::StrFormat("image efficiency is too low (efficiency=%g < threshold=%g)",
                                e.efficiency(), *t)
              : ""});
  }
  const std::string bytes = flags.Get("highest-wasted-bytes");
  if (Disabled(bytes)) {
    out.push_back({"highestWastedBytes", "SKIP", "rule disabled"});
  } else {
    auto t = ParseHumanBytes(bytes);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--highest-wasted-bytes: ", t.status().message()));
    }
    const bool fail = static_cast<double>(e.wasted_bytes()) > *t;
    out.push_back({"highestWastedBytes", fail ? "FAIL" : "PASS",
                   fail
                       ? absl::StrFormat("too many bytes wasted (wasted-bytes=%d > threshold=%.0f)",
                                         e.wasted_bytes(), *t)
                       : ""});
  }
  const std::string pct = flags.Get("highest-user-wasted-percent");
  if (Disabled(pct)) {
    out.push_back({"highestUserWastedPercent", "SKIP", "rule disabled"});
  } else {
    auto t = fraction("highest-user-wasted-percent", pct);
    if (!t.ok()) return t.status();
    const bool fail = *t < e.user_wasted_percent();
    out.push_back({"highestUserWastedPercent", fail ? "FAIL" : "PASS",
                   fail ? absl::StrFormat("too many bytes wasted, relative to the user bytes added "
                                          "(%%-user-wasted-bytes=%g > threshold=%g)",
                                          e.user_wasted_percent(), *t)
                        : ""});
  }
  return out;
}

}  // namespace

int CmdAnalyze(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("analyze",
                "analyze [OPTIONS] IMAGE\n\nAnalyze an image: layers, base image, "
                "suggestions, score; --deep walks every file (dive's figures).");
  flags.Bool("deep", 0, "Walk every layer's files: efficiency, wasted bytes, wasted paths");
  flags.Bool("ci", 0, "Check dive's CI rules (implies --deep); exit 1 when one fails");
  flags.String("lowest-efficiency", 0, "CI: lowest allowed efficiency, a fraction (default 0.9)",
               "0.9");
  flags.String("highest-wasted-bytes", 0,
               "CI: highest allowed wasted bytes, e.g. 20MB (default disabled)", "disabled");
  flags.String("highest-user-wasted-percent", 0,
               "CI: highest allowed wasted / user bytes (default 0.1)", "0.1");
  flags.String("top", 0, "Deep: how many wasted paths to show (default 20)", "20");
  flags.String("format", 'f', "Output format: \"json\" for machines", "");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "", ArityMessage::kWithUsage)) return *rc;
  const bool ci = flags.GetBool("ci");
  int top = 0;
  if (!absl::SimpleAtoi(flags.Get("top"), &top) || top < 0) {
    std::cerr << "--top: \"" << flags.Get("top") << "\" is not a count\n";
    return 125;
  }
  pb::AnalyzeImageRequest req;
  req.set_image(flags.positionals()[0]);
  req.set_deep(ci || flags.GetBool("deep"));
  req.set_top_wasted_paths(top);
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto analyzed = (*client)->AnalyzeImage(req);
  if (!analyzed.ok()) return ReportError(ctx, analyzed.status());
  const pb::ImageAnalysis& analysis = *analyzed;
  std::vector<CiResult> rules;
  if (ci) {
    auto r = EvaluateCi(flags, analysis.efficiency());
    if (!r.ok()) {
      std::cerr << r.status().message() << "\n";
      return 125;
    }
    rules = std::move(*r);
  }
  bool failed = false;
  for (const CiResult& r : rules) failed = failed || r.status == "FAIL";
  if (flags.Get("format") == "json") {
    nlohmann::json j = nlohmann::json::parse(ToJson(analysis), nullptr, false);
    if (ci) {
      nlohmann::json list = nlohmann::json::array();
      for (const CiResult& r : rules) {
        list.push_back({{"rule", r.key}, {"status", r.status}, {"message", r.message}});
      }
      j["ci"] = {{"result", failed ? "FAIL" : "PASS"}, {"rules", list}};
    }
    std::cout << j.dump(2) << "\n";
    return failed ? 1 : 0;
  }
  PrintAnalysis(analysis, true);
  if (ci) {
    int passed = 0, fails = 0, skipped = 0;
    std::cout << "\nCI results:\n";
    for (const CiResult& r : rules) {
      std::cout << "  " << r.status << ": " << r.key << (r.message.empty() ? "" : ": ") << r.message
                << "\n";
      (r.status == "PASS" ? passed : r.status == "FAIL" ? fails : skipped)++;
    }
    std::cout << "Result:" << (failed ? "FAIL" : "PASS") << " [Total:" << rules.size()
              << "] [Passed:" << passed << "] [Failed:" << fails
              << "] [Warn:0] [Skipped:" << skipped << "]\n";
  }
  return failed ? 1 : 0;
}

int CmdCompare(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("compare", "compare [OPTIONS] IMAGE_A IMAGE_B\n\nCompare two images.");
  flags.Bool("deep", 0, "Walk every layer's files of both images");
  flags.String("format", 'f', "Output format: \"json\" for machines", "");
  if (auto rc = ParseCommandLine(flags, args, 2, 2, "", ArityMessage::kWithUsage)) return *rc;
  pb::CompareImagesRequest req;
  req.set_image_a(flags.positionals()[0]);
  req.set_image_b(flags.positionals()[1]);
  req.set_deep(flags.GetBool("deep"));
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto compared = (*client)->CompareImages(req);
  if (!compared.ok()) return ReportError(ctx, compared.status());
  const pb::ImageComparison& cmp = *compared;
  if (flags.Get("format") == "json") {
    std::cout << ToJson(cmp) << "\n";
    return 0;
  }
  auto row = [](const std::string& k, const std::string& a, const std::string& b) {
    std::cout << absl::StrFormat("%-14s %-40s %s\n", k, a, b);
  };
  auto layers = [](const pb::ImageAnalysis& a) {
    int n = 0;
    for (const auto& l : a.layers()) n += l.empty_layer() ? 0 : 1;
    return std::to_string(n);
  };
  row("", "A", "B");
  row("Image", Truncate(cmp.a().image_name(), 40), cmp.b().image_name());
  row("Size", HumanSize(static_cast<double>(cmp.a().size_bytes())),
      HumanSize(static_cast<double>(cmp.b().size_bytes())));
  row("Layers", layers(cmp.a()), layers(cmp.b()));
  row("Base image", Truncate(cmp.a().base_image(), 40), cmp.b().base_image());
  row("User", cmp.a().user().empty() ? "root" : cmp.a().user(),
      cmp.b().user().empty() ? "root" : cmp.b().user());
  row("Score", std::to_string(cmp.a().optimization_score()),
      std::to_string(cmp.b().optimization_score()));
  if (cmp.a().has_efficiency() && cmp.b().has_efficiency()) {
    row("Efficiency", Percent(cmp.a().efficiency().efficiency()),
        Percent(cmp.b().efficiency().efficiency()));
    row("Wasted", HumanSize(static_cast<double>(cmp.a().efficiency().wasted_bytes())),
        HumanSize(static_cast<double>(cmp.b().efficiency().wasted_bytes())));
  }
  std::cout << "\n";
  for (const auto& line : cmp.summary()) std::cout << line << "\n";
  return 0;
}

int CmdReport(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("report",
                "report [OPTIONS] IMAGE\n\nOptimization report with an "
                "implementation plan ordered by impact, then effort.");
  flags.Bool("deep", 0, "Walk every layer's files (measured savings)");
  flags.String("format", 'f', "Output format: \"json\" for machines", "");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "", ArityMessage::kWithUsage)) return *rc;
  pb::AnalyzeImageRequest req;
  req.set_image(flags.positionals()[0]);
  req.set_deep(flags.GetBool("deep"));
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto reported = (*client)->GetOptimizationReport(req);
  if (!reported.ok()) return ReportError(ctx, reported.status());
  const pb::OptimizationReport& report = *reported;
  if (flags.Get("format") == "json") {
    std::cout << ToJson(report) << "\n";
    return 0;
  }
  for (const auto& line : report.summary()) std::cout << line << "\n";
  std::cout << "\n";
  PrintAnalysis(report.analysis(), false);
  std::cout << "\nImplementation plan (potential savings "
            << HumanSize(report.total_potential_savings_mb() * 1e6) << "):";
  std::vector<const pb::OptimizationSuggestion*> list;
  for (const auto& step : report.implementation_plan()) list.push_back(&step.suggestion());
  PrintSuggestions(list, true);
  return 0;
}

}  // namespace dkd::client
