//! The Q-network in burn: what is trained, saved in burn's own file format, and exported to
//! [`PlainMlp`] for deployment.

use crate::plain::PlainMlp;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::{Initializer, Linear, LinearConfig, Relu};
use burn::prelude::*;
use burn::store::{ModuleRecord, RecordError};
use std::sync::Mutex;

/// burn draws initial weights from one generator per backend, shared by every thread: a seeded
/// construction is reproducible only if no other thread seeds or draws between the seeding and
/// the construction. Every construction here holds this lock (parallel tests, or an
/// application training two policies at once, made "deterministic" training differ).
static INIT: Mutex<()> = Mutex::new(());

/// A dueling MLP over the observation vector, one output per processor. The heads start at
/// zero, so an untrained network adds nothing to the heuristic prior.
#[derive(Module, Debug)]
pub struct QNet {
    l1: Linear,
    l2: Linear,
    value: Linear,
    advantage: Linear,
    relu: Relu,
}

impl QNet {
    /// A fresh network on `device` with zero heads and random hidden layers (see
    /// [`QNet::seeded`] for reproducible ones).
    pub fn new(device: &Device, inputs: usize, hidden: usize, actions: usize) -> QNet {
        Self::with_head_init(device, inputs, hidden, actions, Initializer::Zeros)
    }

    /// [`QNet::new`] with the device's generator seeded by `seed` first, under a lock that
    /// keeps other threads' constructions out: the same seed gives the same weights.
    pub fn seeded(device: &Device, seed: u64, inputs: usize, hidden: usize, actions: usize) -> QNet {
        Self::seeded_with_head_init(device, seed, inputs, hidden, actions, Initializer::Zeros)
    }

    /// [`QNet::with_head_init`], seeded as [`QNet::seeded`] is.
    pub fn seeded_with_head_init(
        device: &Device,
        seed: u64,
        inputs: usize,
        hidden: usize,
        actions: usize,
        init: Initializer,
    ) -> QNet {
        let _only_us = INIT.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(seed);
        Self::build(device, inputs, hidden, actions, init)
    }

    /// A fresh network whose heads start from `init` (zero for training; random ones serve
    /// tests that compare forwards).
    pub fn with_head_init(device: &Device, inputs: usize, hidden: usize, actions: usize, init: Initializer) -> QNet {
        let _only_us = INIT.lock().unwrap_or_else(|e| e.into_inner());
        Self::build(device, inputs, hidden, actions, init)
    }

    /// Call with [`INIT`] held.
    fn build(device: &Device, inputs: usize, hidden: usize, actions: usize, init: Initializer) -> QNet {
        let head = |o| LinearConfig::new(hidden, o).with_initializer(init.clone()).init(device);
        let net = QNet {
            l1: LinearConfig::new(inputs, hidden).init(device),
            l2: LinearConfig::new(hidden, hidden).init(device),
            value: head(1),
            advantage: head(actions),
            relu: Relu::new(),
        };
        // burn initialises parameters lazily, at their first read: draw them now, under the
        // lock, not whenever the caller first reads them (after other threads had reseeded).
        let _ = net.to_plain();
        net
    }

    /// Residual Q-values `[batch, actions]` (without the prior).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.relu.forward(self.l1.forward(x));
        let h = self.relu.forward(self.l2.forward(h));
        let v = self.value.forward(h.clone());
        let a = self.advantage.forward(h);
        let mean = a.clone().mean_dim(1);
        a - mean + v
    }

    /// The weights as plain arrays for the allocation-free deployed forward.
    pub fn to_plain(&self) -> PlainMlp {
        let w = |l: &Linear| l.weight.val().into_data().try_to_vec::<f32>().expect("f32 weights");
        let b = |l: &Linear| {
            l.bias
                .as_ref()
                .expect("layers are built with a bias")
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 bias")
        };
        let [inputs, hidden] = self.l1.weight.val().dims();
        let actions = self.advantage.weight.val().dims()[1];
        let (wv, bv, wa, ba) = (w(&self.value), b(&self.value), w(&self.advantage), b(&self.advantage));
        PlainMlp {
            zero_heads: PlainMlp::heads_are_zero(&wv, &bv, &wa, &ba),
            inputs,
            hidden,
            actions,
            w1: w(&self.l1),
            b1: b(&self.l1),
            w2: w(&self.l2),
            b2: b(&self.l2),
            wv,
            bv,
            wa,
            ba,
            prior_energy: 0.0,
            prior_violation: 0.0,
            prior_form: Default::default(),
            options: Vec::new(),
        }
    }

    /// The weights in burn's file format (burnpack bytes). Parameters are numbered in
    /// module order in place of burn's random ids, so that the same weights always give the
    /// same bytes (and the same SHA-256 in a policy's manifest): training is deterministic
    /// for a seed, and so is its file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RecordError> {
        let numbered = self.clone().map(&mut NumberedIds(0));
        Ok(numbered.into_record().into_bytes()?.to_vec())
    }

    /// A network of this shape with weights read from burnpack bytes.
    pub fn from_bytes(
        device: &Device,
        inputs: usize,
        hidden: usize,
        actions: usize,
        bytes: &[u8],
    ) -> Result<QNet, RecordError> {
        let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))?;
        QNet::new(device, inputs, hidden, actions).try_load_record(record)
    }
}

/// Gives each parameter the next number as its id (burn draws them at random).
struct NumberedIds(u64);

impl ModuleMapper for NumberedIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, _) = param.consume();
        self.0 += 1;
        Param::initialized(ParamId::from(self.0), value)
    }
}
