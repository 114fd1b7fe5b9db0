// The CUDA backend as seen from programs and tests that are plain C++: a
// factory returning the op interface, with no CUDA header in sight. Linked
// from nextlm_cuda; callers compile it in only when NEXTLM_HAVE_CUDA is set.
#pragma once

#include <memory>
#include <vector>

#include "runtime/backend.h"
#include "runtime/collectives.h"

namespace nextlm::cuda {

// Number of CUDA devices; 0 without a driver or device (never throws).
int backend_device_count();

// A backend running every op on CUDA device `device` with its own stream.
// Throws nextlm::Error (kInvalidArgument) when there is no such device.
std::unique_ptr<runtime::Backend> make_cuda_backend(int device);

// An NCCL communicator over these backends (one rank each, ncclCommInitAll,
// collectives on the backends' streams); nullptr when a rank is not a CUDA
// backend or two ranks share a device, so that the caller falls back to the
// host communicator.
std::unique_ptr<runtime::Communicator> make_nccl_communicator(const std::vector<runtime::Backend*>& ranks);

}  // namespace nextlm::cuda
