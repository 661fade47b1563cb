// Early-return helpers for absl::Status / absl::StatusOr.
//
// Debian 12's Abseil predates Abseil's own versions of these macros, so the
// project defines them once, here. Both evaluate their argument exactly once.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DKD_STATUS_CONCAT_INNER_(a, b) a##b
#define DKD_STATUS_CONCAT_(a, b) DKD_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status dkd_status_ = (expr);       \
    if (!dkd_status_.ok()) return dkd_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(lhs, expr)`: evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, expr) \
  DKD_ASSIGN_OR_RETURN_IMPL_(DKD_STATUS_CONCAT_(dkd_statusor_, __LINE__), lhs, expr)

#define DKD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)    \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
