// IoDriver (polyrpc++/call.hpp): a blocked caller runs its call's loop (runtime/event_loop.h).
#include "polyrpc++/call.hpp"
#include "runtime/event_loop.h"

namespace polyrpc {

IoDriver::IoDriver(ClientCall& call) {
  EventLoop* loop = call.event_loop();
  if (loop != nullptr && loop->TryBeginDrive(call.busy_poll_us())) loop_ = loop;
}

IoDriver::~IoDriver() {
  if (loop_ != nullptr) loop_->EndDrive();
}

void IoDriver::RunOnce() { loop_->DriveOnce(); }

void IoDriver::Wake() {
  if (loop_ != nullptr) loop_->Wake();
}

}  // namespace polyrpc
