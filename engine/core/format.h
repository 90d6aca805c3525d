// Sizes in messages and reports, in binary units with one decimal: 1536 -> "1.5 KiB",
// 3 << 30 -> "3.0 GiB", 100 -> "100 B". The out-of-memory messages (allocators, the batch that
// fits) and `inspect` reports all say sizes this way.
#pragma once

#include <string>

namespace ng {

std::string human_bytes(double bytes);

}  // namespace ng
