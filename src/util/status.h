// Status and Result<T>: how every fallible operation in riglm reports failure.
// A small code set (after leveldb) plus a message that says what failed, on what, and why.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace riglm {

enum class StatusCode {
  kOk,
  kInvalidArgument,
  kNotFound,
  kCorruption,
  kUnsupported,
  kIoError,
  kOutOfMemory,
  kCancelled,
  kUnavailable,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: model.gguf: ..." for logs and the CLI.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status OutOfMemory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    if (std::get<Status>(data_).ok()) data_ = Internal("Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace riglm

#define RIGLM_CONCAT_INNER(a, b) a##b
#define RIGLM_CONCAT(a, b) RIGLM_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define RIGLM_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::riglm::Status riglm_status_ = (expr);  \
    if (!riglm_status_.ok()) return riglm_status_; \
  } while (0)

#define RIGLM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// `RIGLM_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a Result or returns its Status.
#define RIGLM_ASSIGN_OR_RETURN(lhs, expr) \
  RIGLM_ASSIGN_OR_RETURN_IMPL(RIGLM_CONCAT(riglm_result_, __LINE__), lhs, expr)

// Programmer errors only: never reachable from user input (that is a Status).
#define RIGLM_DCHECK(cond)                                                              \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      ::riglm::internal::DcheckFailed(#cond, __FILE__, __LINE__);                       \
    }                                                                                   \
  } while (0)

namespace riglm::internal {
[[noreturn]] void DcheckFailed(const char* cond, const char* file, int line);
}
