// ImageOptimizerService: the ImageOptimizer RPCs dkd registers with gRPC, over
// core::ImageOptimizer. Each RPC is written once: a GuardedCall (Gatekeeper:
// authentication, the role from auth.cc's table, limits, request id, metrics,
// audit), then validate -> convert -> call core -> convert back -> map status.
// No domain logic lives here. Analysis RPCs watch
// for the caller going away and abort the image export stream behind a deep
// analysis. Thread-safe: the service holds no per-call state.
#pragma once

#include <memory>

#include "core/image/image_optimizer.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"
#include "server/gatekeeper.h"

namespace dkd::server {

class ImageOptimizerService final : public dkd::v1::ImageOptimizer::Service {
 public:
  ImageOptimizerService(std::shared_ptr<core::ImageOptimizer> optimizer, Gatekeeper* gatekeeper);

  grpc::Status AnalyzeImage(grpc::ServerContext* context,
                            const dkd::v1::AnalyzeImageRequest* request,
                            dkd::v1::ImageAnalysis* response) override;
  grpc::Status OptimizeImage(grpc::ServerContext* context,
                             const dkd::v1::OptimizeImageRequest* request,
                             dkd::v1::OptimizeImageResponse* response) override;
  grpc::Status SuggestOptimizations(grpc::ServerContext* context,
                                    const dkd::v1::AnalyzeImageRequest* request,
                                    dkd::v1::SuggestOptimizationsResponse* response) override;
  grpc::Status CompareImages(grpc::ServerContext* context,
                             const dkd::v1::CompareImagesRequest* request,
                             dkd::v1::ImageComparison* response) override;
  grpc::Status GetOptimizationReport(grpc::ServerContext* context,
                                     const dkd::v1::AnalyzeImageRequest* request,
                                     dkd::v1::OptimizationReport* response) override;

 private:
  std::shared_ptr<core::ImageOptimizer> optimizer_;
  Gatekeeper* gatekeeper_;
};

}  // namespace dkd::server
