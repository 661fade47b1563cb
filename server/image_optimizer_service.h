// gRPC adapter for core::ImageOptimizer.
#pragma once

#include <memory>

#include "core/image_optimizer.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"

namespace dkd::server {

class ImageOptimizerService final : public dkd::v1::ImageOptimizer::Service {
 public:
  explicit ImageOptimizerService(std::shared_ptr<core::ImageOptimizer> optimizer);

 private:
  std::shared_ptr<core::ImageOptimizer> optimizer_;
};

}  // namespace dkd::server
