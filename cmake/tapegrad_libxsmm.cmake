# libxsmm (Debian's libxsmm-dev: a static library, no CMake package) as the
# imported target tapegrad::libxsmm, for the library's build and for its
# installed package. It JIT-compiles the small matrix products of a recurrent
# step (autodiff/small_gemm.cpp); without it every product goes to OpenBLAS.
if(NOT TARGET tapegrad::libxsmm)
  find_library(TAPEGRAD_LIBXSMM_LIBRARY NAMES libxsmm.a xsmm)
  find_path(TAPEGRAD_LIBXSMM_INCLUDE libxsmm.h)
  if(TAPEGRAD_LIBXSMM_LIBRARY AND TAPEGRAD_LIBXSMM_INCLUDE)
    find_package(Threads REQUIRED)
    add_library(tapegrad::libxsmm UNKNOWN IMPORTED)
    # libxsmm.a needs the threads, real-time and dynamic-loading libraries
    # (its pkg-config file: -lpthread -lrt -ldl -lm).
    set_target_properties(tapegrad::libxsmm PROPERTIES IMPORTED_LOCATION "${TAPEGRAD_LIBXSMM_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${TAPEGRAD_LIBXSMM_INCLUDE}"
                          INTERFACE_LINK_LIBRARIES "Threads::Threads;rt;dl;m")
  endif()
endif()
