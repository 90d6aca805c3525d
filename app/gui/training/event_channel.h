// EventChannel: the trainer's events on their way to the GUI thread. The trainer's thread pushes
// (EventSink::on_event) without ever taking a lock or waiting for the GUI; the GUI thread drains
// the channel on a timer (~30 Hz). A lock-free linked queue (D. Vyukov's intrusive MPSC queue):
// a push is one atomic exchange and one store; the single consumer pops without atomics
// read-modify-write.
//
//   EventChannel ch;
//   Trainer t(model, data, options, &ch);      // trainer thread: ch.on_event(e)
//   for (TrainingEvent& e : ch.drain()) ...     // GUI thread, on a QTimer
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "engine/train/events.h"

namespace ng::gui {

class EventChannel : public ng::train::EventSink {
 public:
  EventChannel();
  ~EventChannel() override;
  EventChannel(const EventChannel&) = delete;
  EventChannel& operator=(const EventChannel&) = delete;

  // Any thread; never blocks.
  void on_event(const ng::train::TrainingEvent& e) override { push(e); }
  void push(ng::train::TrainingEvent e);

  // One consumer thread at a time: the events pushed so far (at most `max`), oldest first.
  std::vector<ng::train::TrainingEvent> drain(size_t max = std::numeric_limits<size_t>::max());
  bool empty() const;
  int64_t pushedCount() const { return pushed_.load(std::memory_order_relaxed); }

 private:
  struct Node {
    std::atomic<Node*> next{nullptr};
    std::optional<ng::train::TrainingEvent> event;
  };
  std::atomic<Node*> head_;  // the newest node; producers exchange it
  Node* tail_;               // the consumer's stub: its next is the oldest event
  std::atomic<int64_t> pushed_{0};
};

}  // namespace ng::gui
