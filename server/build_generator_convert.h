// Conversions between dkd.v1 BuildGenerator messages and core types (also the
// BuildConfig that ImageOptimizer takes and returns). Pure
// field-by-field copies: no validation here (core validates every value
// before it writes text), no defaults filled in.
#pragma once

#include <vector>

#include "core/buildgen/build_generator.h"
#include "core/buildgen/build_types.h"
#include "core/buildgen/dockerfile_linter.h"
#include "dkd/v1/build_generator.pb.h"

namespace dkd::server {

core::BuildConfig FromProto(const dkd::v1::BuildConfig& p);
core::BuildScript FromProto(const dkd::v1::BuildScriptConfig& p);
core::LintOptions LintOptionsFromProto(const dkd::v1::LintDockerfileRequest& p);

void ToProto(const core::BuildConfig& c, dkd::v1::BuildConfig* p);
void ToProto(const core::CopyCommand& c, dkd::v1::CopyCommand* p);
void ToProto(const core::BuildStage& c, dkd::v1::BuildStage* p);
void ToProto(const core::MultiStageBuild& c, dkd::v1::MultiStageBuild* p);
void ToProto(const core::BuildScript& c, dkd::v1::BuildScript* p);
void ToProto(const core::LintFinding& c, dkd::v1::LintFinding* p);
dkd::v1::Severity ToProto(core::LintSeverity s);

}  // namespace dkd::server
