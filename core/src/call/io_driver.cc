// IoDriver (polyrpc++/call.hpp): a blocked caller runs its call's loop (runtime/event_loop.h).
#include "polyrpc++/call.hpp"
#include "runtime/event_loop.h"

namespace polyrpc {

IoDriver::IoDriver(ClientCall& call) {
  EventLoop* loop = call.event_loop();
  if (loop == nullptr) return;
  bool waiting = false;
  if (loop->TryBeginDrive(call.busy_poll_us(), &waiting)) {
    loop_ = loop;
  } else if (waiting) {
    waiting_loop_ = loop;
  }
}

IoDriver::~IoDriver() {
  if (loop_ != nullptr) loop_->EndDrive();
  if (waiting_loop_ != nullptr) waiting_loop_->EndPlainWait();
}

void IoDriver::RunOnce() { loop_->DriveOnce(); }

void IoDriver::Wake() {
  if (loop_ != nullptr) loop_->Wake();
}

}  // namespace polyrpc
