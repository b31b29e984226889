//! Train a policy for a built-in device with the default settings and save it, reporting
//! progress and placements per second (what `cosched-bench train` does, without the CLI).
//!
//! ```sh
//! cargo run --release -p cosched-rl --example train_policy -- jetson-orin-nano OUT.policy [STEPS] [SEED]
//! ```

use cosched_core::DeviceProfile;
use cosched_rl::{save_policy, train, Manifest, TrainConfig};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: train_policy DEVICE OUT.policy [STEPS] [SEED]".into());
    }
    let device = DeviceProfile::builtin(&args[1]).ok_or("unknown built-in device")?;
    let mut cfg = TrainConfig::new(device);
    if let Some(s) = args.get(3) {
        cfg.steps = s.parse()?;
    }
    if let Some(s) = args.get(4) {
        cfg.seed = s.parse()?;
    }
    let mut last_eval = None;
    let trained = train(&cfg, &mut |p| {
        if p.eval_ratio != last_eval {
            last_eval = p.eval_ratio;
            eprintln!(
                "step {}/{} episodes {} eval ratio {:?} best {:.3}",
                p.step, p.total, p.episodes, p.eval_ratio, p.best_ratio
            );
        }
    })?;
    eprintln!(
        "{} placements in {:.1} s ({:.0}/s), kept step {}, eval ratio to prior {:.3}",
        trained.steps,
        trained.wall_s,
        trained.steps as f64 / trained.wall_s,
        trained.best_step,
        trained.eval_ratio
    );
    let manifest = Manifest::new(&cfg, &trained, &format!("train_policy example {}", args[1..].join(" ")));
    save_policy(Path::new(&args[2]), &manifest, &trained.weights)?;
    Ok(())
}
