// ImageOptimizerService: each ImageOptimizer RPC, guarded, converted and delegated to core.
#include "server/image_optimizer_service.h"

#include <grpcpp/server_context.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/build_generator_convert.h"
#include "server/cancel_watcher.h"

namespace dkd::server {
namespace {

namespace pb = ::dkd::v1;

constexpr int kMaxTopWastedPaths = 1000;

absl::Status ToOptions(const pb::AnalyzeImageRequest& req, core::AnalyzeOptions& options) {
  if (req.top_wasted_paths() < 0 || req.top_wasted_paths() > kMaxTopWastedPaths) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_wasted_paths: must be between 0 and ", kMaxTopWastedPaths));
  }
  options.deep = req.deep();
  options.top_wasted_paths = req.top_wasted_paths();
  return absl::OkStatus();
}

void ToProto(const core::OptimizationSuggestion& s, pb::OptimizationSuggestion* out) {
  out->set_category(s.category);
  out->set_description(s.description);
  out->set_impact(static_cast<pb::Impact>(s.impact));
  out->set_effort(static_cast<pb::Impact>(s.effort));
  for (const auto& c : s.dockerfile_changes) out->add_dockerfile_changes(c);
  out->set_size_reduction_mb(s.size_reduction_mb);
  out->set_size_measured(s.size_measured);
  out->set_evidence(s.evidence);
}

void ToProto(const core::DeepAnalysis& d, pb::LayerEfficiency* out) {
  const core::EfficiencyReport& e = d.efficiency;
  out->set_efficiency(e.efficiency);
  out->set_wasted_bytes(e.wasted_bytes);
  out->set_user_size_bytes(e.user_size_bytes);
  out->set_user_wasted_percent(e.user_wasted_percent);
  out->set_files_walked(d.files_walked);
  for (const core::WastedPath& w : e.top_wasted) {
    pb::WastedPath* p = out->add_top_wasted();
    p->set_path(w.path);
    p->set_wasted_bytes(w.cumulative_bytes);
    p->set_occurrences(w.occurrences);
    p->set_blamed_layer(w.blame_layer);
    p->set_blamed_created_by(w.blame_created_by);
  }
}

pb::BaseImageMethod ToProto(core::BaseImageMethod m) {
  switch (m) {
    case core::BaseImageMethod::kLayerPrefix:
      return pb::BASE_IMAGE_METHOD_LAYER_PREFIX;
    case core::BaseImageMethod::kLabel:
      return pb::BASE_IMAGE_METHOD_LABEL;
    case core::BaseImageMethod::kHistory:
      return pb::BASE_IMAGE_METHOD_HISTORY;
    case core::BaseImageMethod::kNotFound:
      return pb::BASE_IMAGE_METHOD_NOT_FOUND;
    case core::BaseImageMethod::kUnspecified:
      break;
  }
  return pb::BASE_IMAGE_METHOD_UNSPECIFIED;
}

void ToProto(const core::ImageAnalysis& a, pb::ImageAnalysis* out) {
  out->set_image_name(a.image_name);
  out->set_image_id(a.image_id);
  out->set_size_bytes(a.size_bytes);
  out->set_size_mb(a.SizeMb());
  for (const core::ImageLayer& l : a.layers) {
    pb::Layer* p = out->add_layers();
    p->set_digest(l.digest);
    p->set_size_bytes(l.size_bytes);
    p->set_created_by(l.created_by);
    p->set_created(l.created);
    p->set_comment(l.comment);
    p->set_empty_layer(l.empty_layer);
  }
  out->set_base_image(a.base_image);
  out->set_base_image_method(ToProto(a.base_image_method));
  for (const auto& p : a.exposed_ports) out->add_exposed_ports(p);
  for (const auto& v : a.volumes) out->add_volumes(v);
  for (const auto& [k, v] : a.environment_vars) (*out->mutable_environment_vars())[k] = v;
  for (const auto& e : a.commands.entrypoint) out->mutable_commands()->add_entrypoint(e);
  for (const auto& c : a.commands.cmd) out->mutable_commands()->add_cmd(c);
  for (const auto& h : a.commands.history) out->mutable_commands()->add_history(h);
  out->set_user(a.user);
  out->set_has_health_check(a.has_health_check);
  for (const auto& s : a.potential_optimizations) ToProto(s, out->add_potential_optimizations());
  out->set_optimization_score(a.optimization_score);
  if (a.deep) ToProto(*a.deep, out->mutable_efficiency());
}

}  // namespace

ImageOptimizerService::ImageOptimizerService(std::shared_ptr<core::ImageOptimizer> optimizer,
                                             Gatekeeper* gatekeeper)
    : optimizer_(std::move(optimizer)), gatekeeper_(gatekeeper) {}

grpc::Status ImageOptimizerService::AnalyzeImage(grpc::ServerContext* context,
                                                 const pb::AnalyzeImageRequest* request,
                                                 pb::ImageAnalysis* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.ImageOptimizer/AnalyzeImage", request->image(), [&](GuardedCall&) {
        core::AnalyzeOptions options;
        if (absl::Status s = ToOptions(*request, options); !s.ok()) return s;
        core::CancelToken cancel;
        CancelWatcher watcher(context, &cancel);
        auto analysis = optimizer_->AnalyzeImage(request->image(), options, &cancel);
        if (!analysis.ok()) return analysis.status();
        ToProto(*analysis, response);
        return absl::OkStatus();
      });
}

grpc::Status ImageOptimizerService::OptimizeImage(grpc::ServerContext* context,
                                                  const pb::OptimizeImageRequest* request,
                                                  pb::OptimizeImageResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.ImageOptimizer/OptimizeImage", request->image(), [&](GuardedCall&) {
        core::CancelToken cancel;
        CancelWatcher watcher(context, &cancel);
        auto result =
            optimizer_->OptimizeImage(FromProto(request->config()), request->image(), &cancel);
        if (!result.ok()) return result.status();
        response->set_suggested_base_image(result->suggested_base_image);
        for (const auto& n : result->optimization_notes) response->add_optimization_notes(n);
        ToProto(result->optimized_config, response->mutable_optimized_config());
        for (const auto& s : result->suggestions) ToProto(s, response->add_suggestions());
        return absl::OkStatus();
      });
}

grpc::Status ImageOptimizerService::SuggestOptimizations(
    grpc::ServerContext* context, const pb::AnalyzeImageRequest* request,
    pb::SuggestOptimizationsResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.ImageOptimizer/SuggestOptimizations", request->image(), [&](GuardedCall&) {
        core::AnalyzeOptions options;
        if (absl::Status s = ToOptions(*request, options); !s.ok()) return s;
        core::CancelToken cancel;
        CancelWatcher watcher(context, &cancel);
        auto suggestions = optimizer_->SuggestOptimizations(request->image(), options, &cancel);
        if (!suggestions.ok()) return suggestions.status();
        for (const auto& s : *suggestions) ToProto(s, response->add_suggestions());
        return absl::OkStatus();
      });
}

grpc::Status ImageOptimizerService::CompareImages(grpc::ServerContext* context,
                                                  const pb::CompareImagesRequest* request,
                                                  pb::ImageComparison* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.ImageOptimizer/CompareImages",
                            request->image_a() + " " + request->image_b(), [&](GuardedCall&) {
                              core::AnalyzeOptions options;
                              options.deep = request->deep();
                              core::CancelToken cancel;
                              CancelWatcher watcher(context, &cancel);
                              auto c = optimizer_->CompareImages(
                                  request->image_a(), request->image_b(), options, &cancel);
                              if (!c.ok()) return c.status();
                              ToProto(c->a, response->mutable_a());
                              ToProto(c->b, response->mutable_b());
                              response->set_size_difference_bytes(c->size_difference_bytes);
                              response->set_layer_count_difference(c->layer_count_difference);
                              response->set_score_difference(c->score_difference);
                              response->set_shared_layers(c->shared_layers);
                              for (const auto& s : c->summary) response->add_summary(s);
                              return absl::OkStatus();
                            });
}

grpc::Status ImageOptimizerService::GetOptimizationReport(grpc::ServerContext* context,
                                                          const pb::AnalyzeImageRequest* request,
                                                          pb::OptimizationReport* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.ImageOptimizer/GetOptimizationReport", request->image(), [&](GuardedCall&) {
        core::AnalyzeOptions options;
        if (absl::Status s = ToOptions(*request, options); !s.ok()) return s;
        core::CancelToken cancel;
        CancelWatcher watcher(context, &cancel);
        auto report = optimizer_->GetOptimizationReport(request->image(), options, &cancel);
        if (!report.ok()) return report.status();
        ToProto(report->analysis, response->mutable_analysis());
        int order = 1;
        for (const auto& s : report->implementation_plan) {
          pb::PlanStep* step = response->add_implementation_plan();
          step->set_order(order++);
          ToProto(s, step->mutable_suggestion());
        }
        response->set_total_potential_savings_mb(report->total_potential_savings_mb);
        for (const auto& s : report->summary) response->add_summary(s);
        return absl::OkStatus();
      });
}

}  // namespace dkd::server
