//! NVIDIA GPUs through NVML, loaded at run time so that the binary starts where the NVIDIA
//! driver is absent.

use std::ffi::{c_char, c_uint, c_ulonglong, c_void, CStr, OsStr};
use std::fmt;
use std::sync::Arc;

use libloading::Library;

use crate::{PowerSample, PowerSource, TelemetryError};

/// `nvmlReturn_t`.
type NvmlReturn = c_uint;
/// `nvmlDevice_t`, an opaque pointer.
type NvmlDeviceT = *mut c_void;

const NVML_SUCCESS: NvmlReturn = 0;
const NVML_ERROR_NOT_SUPPORTED: NvmlReturn = 3;

/// `nvmlUtilization_t`.
#[repr(C)]
#[derive(Default)]
struct NvmlUtilization {
    gpu: c_uint,
    memory: c_uint,
}

/// Names tried by [`Nvml::load`]; the unversioned one exists only with the development package.
#[cfg(not(windows))]
const LIBRARY_NAMES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];
#[cfg(windows)]
const LIBRARY_NAMES: &[&str] = &["nvml.dll"];

struct Api {
    shutdown: unsafe extern "C" fn() -> NvmlReturn,
    error_string: unsafe extern "C" fn(NvmlReturn) -> *const c_char,
    device_count: unsafe extern "C" fn(*mut c_uint) -> NvmlReturn,
    handle_by_index: unsafe extern "C" fn(c_uint, *mut NvmlDeviceT) -> NvmlReturn,
    power_usage: unsafe extern "C" fn(NvmlDeviceT, *mut c_uint) -> NvmlReturn,
    total_energy: unsafe extern "C" fn(NvmlDeviceT, *mut c_ulonglong) -> NvmlReturn,
    utilization: unsafe extern "C" fn(NvmlDeviceT, *mut NvmlUtilization) -> NvmlReturn,
    // Declared last so that it is dropped after `Drop::drop` has called nvmlShutdown through the
    // function pointers above, which point into it.
    _lib: Library,
}

impl Api {
    fn check(&self, function: &'static str, code: NvmlReturn) -> Result<(), TelemetryError> {
        if code == NVML_SUCCESS {
            return Ok(());
        }
        let message = error_message(self.error_string, code);
        Err(TelemetryError::Nvml {
            function,
            code,
            message,
        })
    }
}

fn error_message(error_string: unsafe extern "C" fn(NvmlReturn) -> *const c_char, code: NvmlReturn) -> String {
    // SAFETY: nvmlErrorString accepts any code, needs no initialisation and returns a static
    // NUL-terminated string (null is handled anyway).
    unsafe {
        let p = error_string(code);
        if p.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        // SAFETY: nvmlInit_v2 succeeded when this Api was built; every NvmlGpu holds an Arc to it,
        // so no handle outlives the shutdown.
        unsafe {
            (self.shutdown)();
        }
    }
}

/// An initialised NVML library. Cheap to clone; NVML is shut down when the last clone and the
/// last [`NvmlGpu`] are gone.
#[derive(Clone)]
pub struct Nvml {
    api: Arc<Api>,
}

impl fmt::Debug for Nvml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nvml").finish_non_exhaustive()
    }
}

impl Nvml {
    /// Load the NVIDIA management library from the driver's usual names and initialise it.
    ///
    /// Returns [`TelemetryError::NvmlUnavailable`] where the driver is not installed.
    pub fn load() -> Result<Nvml, TelemetryError> {
        let mut errors = Vec::new();
        for name in LIBRARY_NAMES {
            match Nvml::load_from(name) {
                Ok(nvml) => return Ok(nvml),
                Err(TelemetryError::NvmlUnavailable(e)) => errors.push(e),
                // The library is there but nvmlInit failed (no GPU, driver mismatch): say that.
                Err(e) => return Err(e),
            }
        }
        Err(TelemetryError::NvmlUnavailable(errors.join("; ")))
    }

    /// Load NVML from `path` (a file name searched by the dynamic loader, or a full path) and
    /// initialise it.
    pub fn load_from(path: impl AsRef<OsStr>) -> Result<Nvml, TelemetryError> {
        let path = path.as_ref();
        // The loader's message already names the file (and the missing symbol).
        let unavailable = |e: libloading::Error| TelemetryError::NvmlUnavailable(e.to_string());
        // SAFETY: loading runs the library's initialisers; libnvidia-ml's are benign, and a file
        // that is not NVML fails the symbol look-ups below instead of being called blindly.
        let lib = unsafe { Library::new(path) }.map_err(unavailable)?;
        // SAFETY: the signatures match nvml.h (NVML API version 11+); the pointers are only used
        // while `lib` is alive (it is moved into the same Api).
        unsafe {
            let init = *lib
                .get::<unsafe extern "C" fn() -> NvmlReturn>(b"nvmlInit_v2\0")
                .map_err(unavailable)?;
            let shutdown = *lib.get(b"nvmlShutdown\0").map_err(unavailable)?;
            let error_string = *lib.get(b"nvmlErrorString\0").map_err(unavailable)?;
            let device_count = *lib.get(b"nvmlDeviceGetCount_v2\0").map_err(unavailable)?;
            let handle_by_index = *lib.get(b"nvmlDeviceGetHandleByIndex_v2\0").map_err(unavailable)?;
            let power_usage = *lib.get(b"nvmlDeviceGetPowerUsage\0").map_err(unavailable)?;
            let total_energy = *lib.get(b"nvmlDeviceGetTotalEnergyConsumption\0").map_err(unavailable)?;
            let utilization = *lib.get(b"nvmlDeviceGetUtilizationRates\0").map_err(unavailable)?;
            let code = init();
            if code != NVML_SUCCESS {
                // No Api is built, so nvmlShutdown does not run for an NVML that never started.
                let message = error_message(error_string, code);
                return Err(TelemetryError::Nvml {
                    function: "nvmlInit_v2",
                    code,
                    message,
                });
            }
            let api = Api {
                shutdown,
                error_string,
                device_count,
                handle_by_index,
                power_usage,
                total_energy,
                utilization,
                _lib: lib,
            };
            Ok(Nvml { api: Arc::new(api) })
        }
    }

    /// Number of GPUs NVML sees.
    pub fn device_count(&self) -> Result<u32, TelemetryError> {
        let mut n: c_uint = 0;
        // SAFETY: NVML is initialised; `n` is a valid out-pointer.
        let code = unsafe { (self.api.device_count)(&mut n) };
        self.api.check("nvmlDeviceGetCount_v2", code)?;
        Ok(n)
    }

    /// The GPU with NVML index `index`.
    pub fn device(&self, index: u32) -> Result<NvmlGpu, TelemetryError> {
        let mut handle: NvmlDeviceT = std::ptr::null_mut();
        // SAFETY: NVML is initialised; `handle` is a valid out-pointer.
        let code = unsafe { (self.api.handle_by_index)(index, &mut handle) };
        self.api.check("nvmlDeviceGetHandleByIndex_v2", code)?;
        Ok(NvmlGpu {
            api: Arc::clone(&self.api),
            index,
            handle: DeviceHandle(handle),
            energy_counter: None,
        })
    }

    /// All GPUs that can be opened; those that cannot (no permission, fallen off the bus) are
    /// logged and skipped.
    pub fn devices(&self) -> Vec<NvmlGpu> {
        let n = self.device_count().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "NVML cannot count GPUs");
            0
        });
        (0..n)
            .filter_map(|i| {
                self.device(i)
                    .map_err(|e| tracing::warn!(index = i, error = %e, "NVML cannot open GPU"))
                    .ok()
            })
            .collect()
    }
}

/// `nvmlDevice_t` is a handle into NVML's own tables; NVML is thread-safe, so moving the handle
/// to the meter's thread is sound.
struct DeviceHandle(NvmlDeviceT);

// SAFETY: see DeviceHandle; NVML documents its API as thread-safe.
unsafe impl Send for DeviceHandle {}

/// GPU and memory-controller utilisation over NVML's last sample period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuUtilization {
    /// Fraction of time a kernel was running, 0..=1.
    pub gpu: f64,
    /// Fraction of time device memory was read or written, 0..=1.
    pub memory: f64,
}

/// One NVIDIA GPU.
pub struct NvmlGpu {
    api: Arc<Api>,
    index: u32,
    handle: DeviceHandle,
    /// Whether the total-energy counter works (Volta and newer); unknown until first tried.
    energy_counter: Option<bool>,
}

impl fmt::Debug for NvmlGpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlGpu")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl NvmlGpu {
    /// NVML index of the GPU.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Board power, watts (`nvmlDeviceGetPowerUsage`, mW; averaged by the driver over about 1 s
    /// on most boards).
    pub fn power_w(&self) -> Result<f64, TelemetryError> {
        let mut mw: c_uint = 0;
        // SAFETY: valid handle of an initialised NVML (the Arc keeps it alive); valid out-pointer.
        let code = unsafe { (self.api.power_usage)(self.handle.0, &mut mw) };
        self.api.check("nvmlDeviceGetPowerUsage", code)?;
        Ok(f64::from(mw) / 1000.0)
    }

    /// Energy since the driver was loaded, joules (`nvmlDeviceGetTotalEnergyConsumption`, mJ).
    pub fn total_energy_j(&self) -> Result<f64, TelemetryError> {
        let mut mj: c_ulonglong = 0;
        // SAFETY: as in power_w.
        let code = unsafe { (self.api.total_energy)(self.handle.0, &mut mj) };
        self.api.check("nvmlDeviceGetTotalEnergyConsumption", code)?;
        Ok(mj as f64 / 1000.0)
    }

    /// GPU and memory utilisation.
    pub fn utilization(&self) -> Result<GpuUtilization, TelemetryError> {
        let mut u = NvmlUtilization::default();
        // SAFETY: as in power_w; NvmlUtilization matches nvmlUtilization_t.
        let code = unsafe { (self.api.utilization)(self.handle.0, &mut u) };
        self.api.check("nvmlDeviceGetUtilizationRates", code)?;
        Ok(GpuUtilization {
            gpu: f64::from(u.gpu) / 100.0,
            memory: f64::from(u.memory) / 100.0,
        })
    }
}

impl PowerSource for NvmlGpu {
    fn name(&self) -> String {
        format!("nvml:{}", self.index)
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        // The energy counter is exact between samples; the power reading is a ~1 s average that
        // smears short bursts. Older GPUs lack the counter: fall back to power for good.
        if self.energy_counter != Some(false) {
            match self.total_energy_j() {
                Ok(j) => {
                    self.energy_counter = Some(true);
                    return Ok(PowerSample::energy(j, None));
                }
                Err(TelemetryError::Nvml {
                    code: NVML_ERROR_NOT_SUPPORTED,
                    ..
                }) => {
                    tracing::info!(gpu = self.index, "no NVML energy counter; integrating power instead");
                    self.energy_counter = Some(false);
                }
                Err(e) => return Err(e),
            }
        }
        self.power_w().map(PowerSample::power)
    }
}
