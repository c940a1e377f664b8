//! A spec's user namespace and id mappings, as libcontainer reads them: whether the
//! container has a user namespace (made or joined), and which host id a container id is.

use libcontainer::oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

/// Whether `spec` puts the container in a user namespace, new or joined.
pub fn has_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

/// The host id container id `id` is under `mappings` (a spec's uid or gid mappings);
/// `None` where no range maps it.
pub fn host_id(id: u32, mappings: &Option<Vec<LinuxIdMapping>>) -> Option<u32> {
    mappings
        .iter()
        .flatten()
        .find(|m| id >= m.container_id() && id - m.container_id() < m.size())
        .map(|m| m.host_id() + (id - m.container_id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::LinuxIdMappingBuilder;

    fn range(container: u32, host: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(container)
            .host_id(host)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn an_id_maps_inside_its_range_only() {
        let mappings = Some(vec![range(0, 1 << 30, 1000), range(1000, 5000, 10)]);
        assert_eq!(host_id(0, &mappings), Some(1 << 30));
        assert_eq!(host_id(999, &mappings), Some((1 << 30) + 999));
        assert_eq!(host_id(1009, &mappings), Some(5009));
        assert_eq!(host_id(1010, &mappings), None);
        assert_eq!(host_id(0, &None), None);
    }
}
