// Compiling a kernel for every instruction set and exporting it, written once. A kernel's .cpp file
// (e.g. src/optimizers/adam/adam_kernel.cpp) includes hwy/foreach_target.h, which compiles it once per
// instruction set, and then uses:
//
//   DESCENT_KERNEL_TARGET(Adam)        in the per-target namespace, after the template Adam<T> (adam-inl.h);
//   DESCENT_KERNEL_EXPORT(Adam, adam)  once (#if HWY_ONCE), in namespace descent::kernels: defines the
//                                      Kernel object `adam` declared in adam_reference.hpp.
#pragma once

// HWY_EXPORT takes the name of a function, not a template: AdamF32 and AdamF64 name Adam<float> and
// Adam<double> of this target.
#define DESCENT_KERNEL_TARGET(Name)                  \
  inline constexpr auto& Name##F32 = Name<float>;  \
  inline constexpr auto& Name##F64 = Name<double>;

// The dispatch tables of both types, and the Kernel object whose calls go through them.
#define DESCENT_KERNEL_EXPORT(Name, name)                                                               \
  HWY_EXPORT(Name##F32);                                                                                \
  HWY_EXPORT(Name##F64);                                                                                \
  constinit decltype(name) name{[](auto... args) { return HWY_DYNAMIC_DISPATCH(Name##F32)(args...); }, \
                                [](auto... args) { return HWY_DYNAMIC_DISPATCH(Name##F64)(args...); }}
