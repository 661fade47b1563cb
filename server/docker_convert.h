// Conversions between dkd.v1 DockerManager messages and core types. Pure.
#pragma once

#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::server {

core::ContainerConfig FromProto(const dkd::v1::ContainerConfig& p);
core::RegistryAuth FromProto(const dkd::v1::RegistryAuth& p);
core::RunRequest FromProto(const dkd::v1::RunContainerRequest& p);
core::BuildRequest FromProto(const dkd::v1::BuildSpec& p);
// Neither stream asked for means both.
core::LogsRequest FromProto(const dkd::v1::ContainerLogsRequest& p);
core::EventsRequest FromProto(const dkd::v1::StreamEventsRequest& p);

void ToProto(const core::Progress& c, dkd::v1::ProgressEvent* p);
void ToProto(const core::ContainerSummary& c, dkd::v1::ContainerSummary* p);
void ToProto(const core::ImageSummary& c, dkd::v1::ImageSummary* p);
void ToProto(const core::EngineEvent& c, dkd::v1::EngineEvent* p);
void ToProto(const core::LogChunk& c, dkd::v1::LogEntry* p);
// From the engine's inspect and info answers (decoded behind the engine
// interface; raw_json carries the engine's whole answer).
void ContainerDetailsFromJson(const core::ContainerDetails& c, dkd::v1::ContainerDetails* p);
void ImageDetailsFromJson(const core::ImageDetails& c, dkd::v1::ImageDetails* p);
void EngineInfoFromJson(const core::EngineInfo& c, dkd::v1::EngineInfo* p);

}  // namespace dkd::server
