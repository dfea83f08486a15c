//! The pipeline as a graph: which component feeds which. Checked at load time for unknown
//! inputs, cycles and components whose output goes nowhere; used by the topology to wire
//! channels and by `sluice test` to follow records downstream.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, Report};

/// What kind of component a graph node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Source,
    Transform,
    Sink,
}

impl NodeKind {
    /// The config section this kind lives in.
    pub fn section(self) -> &'static str {
        match self {
            NodeKind::Source => "sources",
            NodeKind::Transform => "transforms",
            NodeKind::Sink => "sinks",
        }
    }
}

/// Components by name, with their inputs and the components that consume them.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub kinds: BTreeMap<String, NodeKind>,
    pub inputs: BTreeMap<String, Vec<String>>,
    pub outputs: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// The graph of a config (names assumed unique and inputs known, as `check` ensures).
    pub fn of(config: &Config) -> Graph {
        let mut g = Graph::default();
        for name in config.sources.keys() {
            g.add(name, NodeKind::Source, &[]);
        }
        for (name, t) in &config.transforms {
            g.add(name, NodeKind::Transform, &t.inputs);
        }
        for (name, s) in &config.sinks {
            g.add(name, NodeKind::Sink, &s.inputs);
        }
        g.link_outputs();
        g
    }

    /// Fills `outputs` from `inputs`.
    fn link_outputs(&mut self) {
        for (name, inputs) in self.inputs.clone() {
            for input in inputs {
                self.outputs.entry(input).or_default().push(name.clone());
            }
        }
    }

    fn add(&mut self, name: &str, kind: NodeKind, inputs: &[String]) {
        self.kinds.entry(name.to_string()).or_insert(kind);
        self.inputs
            .entry(name.to_string())
            .or_default()
            .extend(inputs.iter().cloned());
    }

    /// The consumers of `name`.
    pub fn consumers(&self, name: &str) -> &[String] {
        self.outputs.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Transforms in an order where each comes after all its inputs.
    pub fn transforms_in_order(&self) -> Vec<String> {
        let mut done = BTreeSet::new();
        let mut order = Vec::new();
        fn visit(g: &Graph, n: &str, done: &mut BTreeSet<String>, order: &mut Vec<String>) {
            if !done.insert(n.to_string()) {
                return;
            }
            for i in g.inputs.get(n).into_iter().flatten() {
                visit(g, i, done, order);
            }
            if g.kinds.get(n) == Some(&NodeKind::Transform) {
                order.push(n.to_string());
            }
        }
        for n in self.kinds.keys() {
            visit(self, n, &mut done, &mut order);
        }
        order
    }

    /// Every transform, in runs that can share threads: within a run each transform after
    /// the first has exactly one input, the one before it, which feeds nothing else, and
    /// `may_join(previous, next)` agrees. Runs come in input order; a lone transform is a
    /// run of one.
    pub fn transform_chains(&self, may_join: impl Fn(&str, &str) -> bool) -> Vec<Vec<String>> {
        let mut placed = BTreeSet::new();
        let mut chains = Vec::new();
        for start in self.transforms_in_order() {
            if !placed.insert(start.clone()) {
                continue;
            }
            let mut chain = vec![start];
            loop {
                let last = chain.last().expect("never empty");
                let [next] = self.consumers(last) else { break };
                let joins = self.kinds.get(next) == Some(&NodeKind::Transform)
                    && self.inputs.get(next).map(Vec::as_slice) == Some(std::slice::from_ref(last))
                    && !placed.contains(next)
                    && may_join(last, next);
                if !joins {
                    break;
                }
                placed.insert(next.clone());
                chain.push(next.clone());
            }
            chains.push(chain);
        }
        chains
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reports every graph problem of `config`.
pub(super) fn check(config: &Config, report: &mut Report) {
    let mut seen: BTreeMap<&str, NodeKind> = BTreeMap::new();
    // Names used in two sections: an input naming one is reported as the collision it is.
    let mut collided: BTreeSet<&str> = BTreeSet::new();
    let all = config
        .sources
        .keys()
        .map(|n| (n, NodeKind::Source))
        .chain(config.transforms.keys().map(|n| (n, NodeKind::Transform)))
        .chain(config.sinks.keys().map(|n| (n, NodeKind::Sink)));
    for (name, kind) in all {
        if !valid_name(name) {
            report.error(
                &[kind.section(), name],
                "component names may hold only letters, digits, `_` and `-`",
            );
        }
        if let Some(other) = seen.insert(name, kind) {
            collided.insert(name);
            report.error(
                &[kind.section(), name],
                format!(
                    "the name is also used in `{}`; component names must be unique",
                    other.section()
                ),
            );
        }
    }
    if config.sources.is_empty() {
        report.error(&["sources"], "the pipeline has no source");
    }
    if config.sinks.is_empty() {
        report.error(&["sinks"], "the pipeline has no sink");
    }

    let consumers: Vec<(&str, NodeKind, &[String])> = config
        .transforms
        .iter()
        .map(|(n, t)| (n.as_str(), NodeKind::Transform, t.inputs.as_slice()))
        .chain(
            config
                .sinks
                .iter()
                .map(|(n, s)| (n.as_str(), NodeKind::Sink, s.inputs.as_slice())),
        )
        .collect();
    let mut used = BTreeSet::new();
    for (name, kind, inputs) in &consumers {
        if inputs.is_empty() {
            report.error(
                &[kind.section(), name, "inputs"],
                "needs at least one input",
            );
        }
        let mut distinct = BTreeSet::new();
        for (i, input) in inputs.iter().enumerate() {
            let index = i.to_string();
            let path = [kind.section(), name, "inputs", index.as_str()];
            if !distinct.insert(input) {
                report.error(&path, format!("input `{input}` is listed twice"));
            }
            match seen.get(input.as_str()) {
                _ if collided.contains(input.as_str()) => {
                    report.error(
                        &path,
                        format!(
                            "input `{input}` is ambiguous: more than one component has that name"
                        ),
                    );
                    used.insert(input.as_str());
                }
                None => report.error(
                    &path,
                    format!("unknown input `{input}`: no source or transform has that name"),
                ),
                Some(NodeKind::Sink) => report.error(
                    &path,
                    format!("input `{input}` is a sink; sinks have no output"),
                ),
                Some(_) if input == name => {
                    report.error(&path, "a component cannot be its own input")
                }
                Some(_) => {
                    used.insert(input.as_str());
                }
            }
        }
    }

    // Cycles among transforms (sources have no inputs, sinks no consumers).
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = on stack, 2 = done
    fn dfs<'a>(
        config: &'a Config,
        n: &'a str,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(n) {
            Some(1) => {
                let from = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n, 1);
        stack.push(n);
        if let Some(t) = config.transforms.get(n) {
            for input in &t.inputs {
                if config.transforms.contains_key(input) && input != n {
                    if let Some(c) = dfs(config, input, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    for name in config.transforms.keys() {
        if let Some(cycle) = dfs(config, name, &mut state, &mut Vec::new()) {
            let mut shown: Vec<&str> = cycle.clone();
            shown.reverse();
            report.error(
                &["transforms", cycle[0], "inputs"],
                format!("the pipeline has a cycle: {}", shown.join(" -> ")),
            );
            break;
        }
    }

    for name in config.sources.keys() {
        if !used.contains(name.as_str()) {
            report.error(
                &["sources", name],
                "the source is not an input of any transform or sink, so its records would go nowhere",
            );
        }
    }
    for name in config.transforms.keys() {
        if !used.contains(name.as_str()) {
            report.error(
                &["transforms", name],
                "the transform is not an input of any transform or sink, so its output would go nowhere",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_follow_single_links_the_predicate_allows() {
        // src -> a -> b -> c -> {d, e}; d -> f (refused by the predicate); e -> sink k;
        // g reads src and b, so b feeds two consumers and the a-b-c chain stops at b.
        let mut g = Graph::default();
        g.add("src", NodeKind::Source, &[]);
        for (name, inputs) in [
            ("a", vec!["src"]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("d", vec!["c"]),
            ("e", vec!["c"]),
            ("f", vec!["d"]),
            ("g", vec!["src", "b"]),
        ] {
            let inputs: Vec<String> = inputs.into_iter().map(String::from).collect();
            g.add(name, NodeKind::Transform, &inputs);
        }
        g.add("k", NodeKind::Sink, &["e".to_string()]);
        g.link_outputs();
        let chains = g.transform_chains(|from, to| (from, to) != ("d", "f"));
        let expected: Vec<Vec<String>> = [&["a", "b"][..], &["c"], &["d"], &["e"], &["f"], &["g"]]
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(chains, expected);
    }
}
