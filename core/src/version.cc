#include "polyrpc++/polyrpc.hpp"

namespace polyrpc {
const char* Version() { return POLYRPC_VERSION_STRING; }
}  // namespace polyrpc
