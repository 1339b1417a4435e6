//! Abstract resources: `{"gpu": 1}`, `{"memory": 2e9}`.

use std::collections::BTreeMap;

/// Named quantities a task holds while it runs, or a worker offers.
///
/// A task with resources runs only on a worker that declared at least as much of each,
/// and a worker runs such tasks only while their sum fits what it offers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources(BTreeMap<String, f64>);

impl Resources {
    /// No resources: fits anywhere.
    pub fn none() -> Self {
        Self::default()
    }

    /// True when nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every quantity here is at most what `offer` has of it.
    pub fn fits_in(&self, offer: &Resources) -> bool {
        self.0.iter().all(|(name, need)| offer.0.get(name).is_some_and(|have| have >= need))
    }

    /// Adds `other` to these quantities.
    pub fn add(&mut self, other: &Resources) {
        for (name, q) in &other.0 {
            *self.0.entry(name.clone()).or_default() += q;
        }
    }

    /// Subtracts `other` from these quantities.
    pub fn subtract(&mut self, other: &Resources) {
        for (name, q) in &other.0 {
            *self.0.entry(name.clone()).or_default() -= q;
        }
    }

    /// The quantities as a map, as they travel on the wire.
    pub fn to_map<M: FromIterator<(String, f64)>>(&self) -> M {
        self.0.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl<K: Into<String>> FromIterator<(K, f64)> for Resources {
    fn from_iter<I: IntoIterator<Item = (K, f64)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_only_when_every_quantity_is_offered() {
        let offer: Resources = [("gpu", 2.0), ("ssd", 1.0)].into_iter().collect();
        assert!(Resources::none().fits_in(&offer));
        assert!([("gpu", 2.0)].into_iter().collect::<Resources>().fits_in(&offer));
        assert!(![("gpu", 3.0)].into_iter().collect::<Resources>().fits_in(&offer));
        assert!(![("tpu", 1.0)].into_iter().collect::<Resources>().fits_in(&offer));
    }
}
