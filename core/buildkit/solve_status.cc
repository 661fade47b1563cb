// DecodeSolveStatus (solve_status.h): StatusResponse, field by field.
#include "core/buildkit/solve_status.h"

#include <string>

#include "absl/strings/escaping.h"
#include "core/base/status_macros.h"
#include "core/buildkit/proto_wire.h"

namespace dkd::core::buildkit {
namespace {

using WireType = ProtoWireReader::WireType;

// Reads a length-delimited field as a string; any other wire type for a field
// that must be length-delimited is malformed input.
absl::Status ReadString(ProtoWireReader& r, WireType type, std::string* out) {
  if (type != ProtoWireReader::kLengthDelimited) {
    return absl::InvalidArgumentError("protobuf: expected a length-delimited field");
  }
  absl::string_view v;
  RETURN_IF_ERROR(r.ReadBytes(&v));
  out->assign(v.data(), v.size());
  return absl::OkStatus();
}

absl::Status ReadInt(ProtoWireReader& r, WireType type, int64_t* out) {
  if (type != ProtoWireReader::kVarint) {
    return absl::InvalidArgumentError("protobuf: expected a varint field");
  }
  uint64_t v = 0;
  RETURN_IF_ERROR(r.ReadVarint(&v));
  *out = static_cast<int64_t>(v);
  return absl::OkStatus();
}

// google.protobuf.Timestamp: seconds = 1, nanos = 2.
absl::Status ReadTime(ProtoWireReader& r, WireType type, absl::Time* out) {
  std::string bytes;
  RETURN_IF_ERROR(ReadString(r, type, &bytes));
  ProtoWireReader m(bytes);
  int64_t seconds = 0;
  int64_t nanos = 0;
  while (!m.AtEnd()) {
    uint32_t field = 0;
    WireType t{};
    RETURN_IF_ERROR(m.NextTag(&field, &t));
    if (field == 1) {
      RETURN_IF_ERROR(ReadInt(m, t, &seconds));
    } else if (field == 2) {
      RETURN_IF_ERROR(ReadInt(m, t, &nanos));
    } else {
      RETURN_IF_ERROR(m.Skip(t));
    }
  }
  if (nanos < 0 || nanos >= 1000000000) {
    return absl::InvalidArgumentError("protobuf: timestamp nanos out of range");
  }
  *out = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return absl::OkStatus();
}

absl::Status ReadOptionalTime(ProtoWireReader& r, WireType type, std::optional<absl::Time>* out) {
  absl::Time t;
  RETURN_IF_ERROR(ReadTime(r, type, &t));
  *out = t;
  return absl::OkStatus();
}

// Runs `field_fn(reader, field, type)` for each field of the message in
// `bytes`; it returns false for a field it does not know, which is skipped.
template <typename FieldFn>
absl::Status ForEachField(absl::string_view bytes, FieldFn field_fn) {
  ProtoWireReader r(bytes);
  while (!r.AtEnd()) {
    uint32_t field = 0;
    WireType type{};
    RETURN_IF_ERROR(r.NextTag(&field, &type));
    bool known = false;
    RETURN_IF_ERROR(field_fn(r, field, type, &known));
    if (!known) RETURN_IF_ERROR(r.Skip(type));
  }
  return absl::OkStatus();
}

absl::StatusOr<Vertex> DecodeVertex(absl::string_view bytes) {
  Vertex v;
  auto fields = [&](ProtoWireReader& r, uint32_t field, WireType type,
                    bool* known) -> absl::Status {
    *known = true;
    switch (field) {
      case 1:
        return ReadString(r, type, &v.digest);
      case 2:
        return ReadString(r, type, &v.inputs.emplace_back());
      case 3:
        return ReadString(r, type, &v.name);
      case 4: {
        int64_t b = 0;
        RETURN_IF_ERROR(ReadInt(r, type, &b));
        v.cached = b != 0;
        return absl::OkStatus();
      }
      case 5:
        return ReadOptionalTime(r, type, &v.started);
      case 6:
        return ReadOptionalTime(r, type, &v.completed);
      case 7:
        return ReadString(r, type, &v.error);
      default:
        *known = false;
        return absl::OkStatus();
    }
  };
  RETURN_IF_ERROR(ForEachField(bytes, fields));
  return v;
}

absl::StatusOr<VertexStatus> DecodeVertexStatus(absl::string_view bytes) {
  VertexStatus s;
  auto fields = [&](ProtoWireReader& r, uint32_t field, WireType type,
                    bool* known) -> absl::Status {
    *known = true;
    switch (field) {
      case 1:
        return ReadString(r, type, &s.id);
      case 2:
        return ReadString(r, type, &s.vertex);
      case 3:
        return ReadString(r, type, &s.name);
      case 4:
        return ReadInt(r, type, &s.current);
      case 5:
        return ReadInt(r, type, &s.total);
      case 6:
        return ReadTime(r, type, &s.timestamp);
      case 7:
        return ReadOptionalTime(r, type, &s.started);
      case 8:
        return ReadOptionalTime(r, type, &s.completed);
      default:
        *known = false;
        return absl::OkStatus();
    }
  };
  RETURN_IF_ERROR(ForEachField(bytes, fields));
  return s;
}

absl::StatusOr<VertexLog> DecodeVertexLog(absl::string_view bytes) {
  VertexLog l;
  auto fields = [&](ProtoWireReader& r, uint32_t field, WireType type,
                    bool* known) -> absl::Status {
    *known = true;
    switch (field) {
      case 1:
        return ReadString(r, type, &l.vertex);
      case 2:
        return ReadTime(r, type, &l.timestamp);
      case 3:
        return ReadInt(r, type, &l.stream);
      case 4:
        return ReadString(r, type, &l.data);
      default:
        *known = false;
        return absl::OkStatus();
    }
  };
  RETURN_IF_ERROR(ForEachField(bytes, fields));
  return l;
}

absl::StatusOr<VertexWarning> DecodeVertexWarning(absl::string_view bytes) {
  VertexWarning w;
  auto fields = [&](ProtoWireReader& r, uint32_t field, WireType type,
                    bool* known) -> absl::Status {
    *known = true;
    switch (field) {
      case 1:
        return ReadString(r, type, &w.vertex);
      case 2:
        return ReadInt(r, type, &w.level);
      case 3:
        return ReadString(r, type, &w.short_text);
      case 4:
        return ReadString(r, type, &w.detail.emplace_back());
      case 5:
        return ReadString(r, type, &w.url);
      default:
        *known = false;
        return absl::OkStatus();
    }
  };
  RETURN_IF_ERROR(ForEachField(bytes, fields));
  return w;
}

}  // namespace

absl::StatusOr<SolveStatus> DecodeSolveStatus(absl::string_view bytes) {
  SolveStatus status;
  auto fields = [&](ProtoWireReader& r, uint32_t field, WireType type,
                    bool* known) -> absl::Status {
    if (field < 1 || field > 4) return absl::OkStatus();
    *known = true;
    if (type != ProtoWireReader::kLengthDelimited) {
      return absl::InvalidArgumentError("protobuf: expected a length-delimited field");
    }
    absl::string_view sub;
    RETURN_IF_ERROR(r.ReadBytes(&sub));
    switch (field) {
      case 1: {
        ASSIGN_OR_RETURN(Vertex v, DecodeVertex(sub));
        status.vertexes.push_back(std::move(v));
        break;
      }
      case 2: {
        ASSIGN_OR_RETURN(VertexStatus s, DecodeVertexStatus(sub));
        status.statuses.push_back(std::move(s));
        break;
      }
      case 3: {
        ASSIGN_OR_RETURN(VertexLog l, DecodeVertexLog(sub));
        status.logs.push_back(std::move(l));
        break;
      }
      default: {
        ASSIGN_OR_RETURN(VertexWarning w, DecodeVertexWarning(sub));
        status.warnings.push_back(std::move(w));
        break;
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(ForEachField(bytes, fields));
  return status;
}

absl::StatusOr<SolveStatus> DecodeTraceAux(absl::string_view base64) {
  std::string bytes;
  if (!absl::Base64Unescape(base64, &bytes)) {
    return absl::InvalidArgumentError("moby.buildkit.trace: aux is not base64");
  }
  return DecodeSolveStatus(bytes);
}

}  // namespace dkd::core::buildkit
