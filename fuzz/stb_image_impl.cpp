// stb_image compiled into the fuzz targets with the sanitizers and coverage, so libFuzzer
// sees inside the decoder (Debian's libstb is built without them). Same header, same
// version as the library the tool links; docs/fuzzing.md.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
