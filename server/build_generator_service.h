// gRPC adapter for core::BuildGenerator.
#pragma once

#include "dkd/v1/build_generator.grpc.pb.h"

namespace dkd::server {

class BuildGeneratorService final : public dkd::v1::BuildGenerator::Service {};

}  // namespace dkd::server
