#include "server/image_optimizer_service.h"

#include <utility>

namespace dkd::server {

ImageOptimizerService::ImageOptimizerService(std::shared_ptr<core::ImageOptimizer> optimizer)
    : optimizer_(std::move(optimizer)) {}

}  // namespace dkd::server
