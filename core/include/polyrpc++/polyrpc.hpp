// The polyrpc C++ API, umbrella header.
#pragma once

#include "polyrpc++/call.hpp"
#include "polyrpc++/channel.hpp"
#include "polyrpc++/credentials.hpp"
#include "polyrpc++/metadata.hpp"
#include "polyrpc++/options.hpp"
#include "polyrpc++/runtime.hpp"
#include "polyrpc++/server.hpp"
#include "polyrpc++/slice.hpp"
#include "polyrpc++/status.hpp"
#include "polyrpc++/sync.hpp"

namespace polyrpc {
// "0.2.0"
const char* Version();
}  // namespace polyrpc
