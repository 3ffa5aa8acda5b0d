//! Opaque, unguessable, prefixed ids (`usr_…`, `org_…`) made of 128 random bits.

use rand::RngCore;

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(prefix.len() + 33);
    id.push_str(prefix);
    id.push('_');
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_carry_their_prefix_and_do_not_repeat() {
        let a = super::new_id("usr");
        let b = super::new_id("usr");
        assert!(a.starts_with("usr_") && a.len() == 36);
        assert_ne!(a, b);
    }
}
