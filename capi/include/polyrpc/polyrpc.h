/* polyrpc.h - the polyrpc C API, umbrella header. C99; also compiles as C++. */
#ifndef POLYRPC_H
#define POLYRPC_H

#include "polyrpc/common.h"
#include "polyrpc/cq.h"
#include "polyrpc/credentials.h"
#include "polyrpc/channel.h"
#include "polyrpc/call.h"
#include "polyrpc/server.h"
#include "polyrpc/dynamic.h"
#include "polyrpc/observability.h"

#endif /* POLYRPC_H */
