# Warning flags for the project's own targets (not for third-party code).
add_library(nextlm_warnings INTERFACE)
target_compile_options(nextlm_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-missing-field-initializers>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local>)
