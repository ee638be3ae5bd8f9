#include "protocol/timeout.h"

#include <limits>

namespace polyrpc {
namespace {

constexpr int64_t kMaxValue = 99999999;  // 8 digits

struct Unit {
  char letter;
  int64_t ns;
};
// Finest first, the order FormatGrpcTimeout tries them in.
constexpr Unit kUnits[] = {
    {'n', 1},
    {'u', 1000},
    {'m', 1000 * 1000},
    {'S', 1000 * 1000 * 1000},
    {'M', int64_t{60} * 1000 * 1000 * 1000},
    {'H', int64_t{3600} * 1000 * 1000 * 1000},
};

}  // namespace

bool ParseGrpcTimeout(std::string_view v, int64_t* out_ns) {
  if (v.size() < 2 || v.size() > 9) return false;
  char unit = v.back();
  std::string_view digits = v.substr(0, v.size() - 1);
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  for (const Unit& u : kUnits) {
    if (u.letter != unit) continue;
    if (value > std::numeric_limits<int64_t>::max() / u.ns) {
      *out_ns = std::numeric_limits<int64_t>::max();
    } else {
      *out_ns = value * u.ns;
    }
    return true;
  }
  return false;
}

std::string FormatGrpcTimeout(int64_t ns) {
  if (ns <= 0) return "1n";
  for (const Unit& u : kUnits) {
    // Round up: ceil(ns / u.ns) without overflow.
    int64_t value = ns / u.ns + (ns % u.ns != 0 ? 1 : 0);
    if (value <= kMaxValue) return std::to_string(value) + u.letter;
  }
  return std::to_string(kMaxValue) + "H";
}

}  // namespace polyrpc
