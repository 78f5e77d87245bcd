// Built only by the test Layering.AllowedIncludeBuilds, as if it were a file of calib/:
// calib uses runtime, so this include resolves (the control for the wrong-direction test).
#include "runtime/session.h"
