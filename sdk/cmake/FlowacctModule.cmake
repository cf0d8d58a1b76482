# SPDX-License-Identifier: GPL-2.0-or-later
# flowacct_add_module(<target> SOURCES ... KIND input|classifier|aggregator|output NAME <name>
#                     [LIBS ...])
# Builds <kind>_<name>.so with hidden visibility and no undefined symbols, into the module
# directory of the build tree (and installs it there when FLOWACCT_MODULE_SUBDIR is set).
function(flowacct_add_module target)
  cmake_parse_arguments(M "" "KIND;NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT M_KIND OR NOT M_NAME)
    message(FATAL_ERROR "flowacct_add_module(${target}): KIND and NAME are required")
  endif()
  add_library(${target} MODULE ${M_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME "${M_KIND}_${M_NAME}"
    CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(TARGET flowacct::sdk)
    target_link_libraries(${target} PRIVATE flowacct::sdk ${M_LIBS})
  else()
    target_link_libraries(${target} PRIVATE ${M_LIBS})
  endif()
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  if(DEFINED FLOWACCT_BUILD_MODULE_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${FLOWACCT_BUILD_MODULE_DIR}")
  endif()
  if(DEFINED FLOWACCT_MODULE_SUBDIR AND NOT M_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${FLOWACCT_MODULE_SUBDIR} COMPONENT ${M_NAME})
  endif()
endfunction()
