// Errors thrown by descent. Every message names the offending value.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace descent {

// Base of every exception descent throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad argument: an option out of range, mismatched sizes, a duplicate name...
// Thrown before anything is modified, so parameters and state are left as they were.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A lookup that found nothing: an unknown parameter name, state slot or option.
class NotFound : public Error {
 public:
  using Error::Error;
};

// Names and values echoed in messages go through excerpt(): a caller's or a file's text can be megabytes
// long (a 20 MB tensor name), and a message must stay readable. Returns `text` when it has at most
// `max_bytes` bytes, else its first bytes (cut at a UTF-8 character boundary) followed by
// "... (N bytes)".
inline constexpr std::size_t kExcerptBytes = 120;
std::string excerpt(std::string_view text, std::size_t max_bytes = kExcerptBytes);

// Formats a double the shortest way that reads back to the same value (0.1, not 0.10000000000000001).
std::string format_number(double value);

}  // namespace descent
