#include "app/gui/training/event_channel.h"

namespace ng::gui {

EventChannel::EventChannel() : head_(new Node), tail_(head_.load()) {}

EventChannel::~EventChannel() {
  drain();
  delete tail_;
}

void EventChannel::push(ng::train::TrainingEvent e) {
  Node* n = new Node;
  n->event.emplace(std::move(e));
  // Linearisation point: the exchange. Until `prev->next` is stored the consumer sees the queue
  // end at `prev` and simply picks `n` up on its next drain.
  Node* prev = head_.exchange(n, std::memory_order_acq_rel);
  prev->next.store(n, std::memory_order_release);
  pushed_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<ng::train::TrainingEvent> EventChannel::drain(size_t max) {
  std::vector<ng::train::TrainingEvent> out;
  while (out.size() < max) {
    Node* next = tail_->next.load(std::memory_order_acquire);
    if (!next) break;
    out.push_back(std::move(*next->event));
    next->event.reset();
    delete tail_;
    tail_ = next;  // `next` becomes the stub
  }
  return out;
}

bool EventChannel::empty() const {
  return tail_->next.load(std::memory_order_acquire) == nullptr;
}

}  // namespace ng::gui
