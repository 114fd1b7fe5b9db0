// The CUDA backend as seen from programs and tests that are plain C++: a
// factory returning the op interface, with no CUDA header in sight. Linked
// from nextlm_cuda; callers compile it in only when NEXTLM_HAVE_CUDA is set.
#pragma once

#include <memory>

#include "runtime/backend.h"

namespace nextlm::cuda {

// Number of CUDA devices; 0 without a driver or device (never throws).
int backend_device_count();

// A backend running every op on CUDA device `device` with its own stream.
// Throws nextlm::Error (kInvalidArgument) when there is no such device.
std::unique_ptr<runtime::Backend> make_cuda_backend(int device);

}  // namespace nextlm::cuda
