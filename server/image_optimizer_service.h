// gRPC adapter for core::ImageOptimizer.
#pragma once

#include "dkd/v1/image_optimizer.grpc.pb.h"

namespace dkd::server {

class ImageOptimizerService final : public dkd::v1::ImageOptimizer::Service {};

}  // namespace dkd::server
