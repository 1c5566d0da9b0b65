// Errors thrown by descent. Every message names the offending value.
#pragma once

#include <stdexcept>
#include <string>

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

// Formats a double the shortest way that reads back to the same value (0.1, not 0.10000000000000001).
std::string format_number(double value);

}  // namespace descent
