# libzip as the imported target tapegrad::libzip, for the library's build and
# for its installed package. Debian's own libzip CMake package cannot be used:
# it refers to the zipcmp/zipmerge tools, which libzip-dev does not install,
# and fails when they are absent. The library and its header are all we need.
if(NOT TARGET tapegrad::libzip)
  find_library(TAPEGRAD_LIBZIP_LIBRARY zip REQUIRED)
  find_path(TAPEGRAD_LIBZIP_INCLUDE zip.h REQUIRED)
  add_library(tapegrad::libzip UNKNOWN IMPORTED)
  set_target_properties(tapegrad::libzip PROPERTIES IMPORTED_LOCATION "${TAPEGRAD_LIBZIP_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${TAPEGRAD_LIBZIP_INCLUDE}")
endif()
