// AppendBuildKitTraceEvents (buildkit_trace.h): base64, StatusResponse, events.
#include "server/buildkit_trace.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "moby/buildkit/v1/status.pb.h"

namespace dkd::server {
namespace {

// `s` with every byte that does not start a well-formed UTF-8 sequence
// replaced by U+FFFD, for the string fields of dkd's events (BuildKit's
// warnings are bytes).
std::string ValidUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 2) ok = c >= 0xc2;  // No overlong forms.
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // Overlong, surrogates.
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

void AddVertex(const moby::buildkit::v1::Vertex& v, std::vector<dkd::v1::BuildEvent>* out) {
  dkd::v1::BuildVertex* e = out->emplace_back().mutable_vertex();
  e->set_digest(v.digest());
  for (const auto& in : v.inputs()) e->add_inputs(in);
  e->set_name(v.name());
  e->set_cached(v.cached());
  if (v.has_started()) *e->mutable_started() = v.started();
  if (v.has_completed()) *e->mutable_completed() = v.completed();
  e->set_error(v.error());
  if (v.has_started() && v.has_completed()) {
    e->set_duration_ms(
        google::protobuf::util::TimeUtil::DurationToMilliseconds(v.completed() - v.started()));
  }
}

}  // namespace

int StepExitCode(absl::string_view error) {
  for (absl::string_view marker : {"exit code: ", "returned a non-zero code: "}) {
    const size_t at = error.rfind(marker);
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = error.substr(at + marker.size());
    const size_t end = rest.find_first_not_of("0123456789");
    int code = -1;
    if (absl::SimpleAtoi(rest.substr(0, end), &code) && code >= 0 && code <= 255) return code;
  }
  return -1;
}

absl::Status AppendBuildKitTraceEvents(absl::string_view base64_aux,
                                       std::vector<dkd::v1::BuildEvent>* out) {
  std::string bytes;
  if (!absl::Base64Unescape(base64_aux, &bytes)) {
    return absl::InvalidArgumentError("BuildKit progress message: aux is not base64");
  }
  moby::buildkit::v1::StatusResponse status;
  if (!status.ParseFromString(bytes)) {
    return absl::InvalidArgumentError("BuildKit progress message: not a StatusResponse");
  }
  // A message's statuses and logs belong before the end of the steps it
  // completes, as docker prints them: unfinished steps first, completed last.
  for (const auto& v : status.vertexes()) {
    if (!v.has_completed()) AddVertex(v, out);
  }
  for (const auto& s : status.statuses()) {
    dkd::v1::BuildVertexStatus* e = out->emplace_back().mutable_vertex_status();
    e->set_vertex(s.vertex());
    e->set_id(s.id());
    e->set_name(s.name());
    e->set_current(s.current());
    e->set_total(s.total());
    if (s.has_timestamp()) *e->mutable_timestamp() = s.timestamp();
    if (s.has_started()) *e->mutable_started() = s.started();
    if (s.has_completed()) *e->mutable_completed() = s.completed();
  }
  for (const auto& l : status.logs()) {
    dkd::v1::BuildVertexLog* e = out->emplace_back().mutable_vertex_log();
    e->set_vertex(l.vertex());
    e->set_stream(static_cast<int32_t>(l.stream()));
    e->set_data(l.msg());
    if (l.has_timestamp()) *e->mutable_timestamp() = l.timestamp();
  }
  for (const auto& v : status.vertexes()) {
    if (v.has_completed()) AddVertex(v, out);
  }
  for (const auto& w : status.warnings()) {
    dkd::v1::BuildWarning* e = out->emplace_back().mutable_warning();
    e->set_vertex(w.vertex());
    e->set_level(static_cast<int32_t>(w.level()));
    e->set_short_(ValidUtf8(w.short_()));
    for (const auto& d : w.detail()) e->add_detail(ValidUtf8(d));
    e->set_url(w.url());
  }
  return absl::OkStatus();
}

dkd::v1::BuildEvent UndecodableTraceEvent(const absl::Status& why) {
  dkd::v1::BuildEvent e;
  e.mutable_warning()->set_short_(
      absl::StrCat("dkd could not decode a BuildKit progress message: ", why.message()));
  return e;
}

}  // namespace dkd::server
