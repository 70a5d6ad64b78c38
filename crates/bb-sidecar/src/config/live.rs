//! Values swapped whole on reload: readers keep the `Arc` they took.

use std::sync::{Arc, RwLock};

use super::RouteTable;

/// A value swapped whole on reload; readers keep the `Arc` they took.
pub struct Live<T: ?Sized>(Arc<RwLock<Arc<T>>>);

impl<T: ?Sized> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(self.0.clone())
    }
}

impl<T: ?Sized> Live<T> {
    pub fn new(value: Arc<T>) -> Live<T> {
        Live(Arc::new(RwLock::new(value)))
    }

    pub fn current(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// Replaces the value only if it is still `seen` (nothing swapped it meanwhile); whether it
    /// did.
    pub fn replace_if(&self, seen: &Arc<T>, value: Arc<T>) -> bool {
        let mut current = self.0.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&current, seen) {
            return false;
        }
        *current = value;
        true
    }
}

/// The live table, swapped whole on reload.
#[derive(Clone)]
pub struct SharedRoutes(Live<RouteTable>);

impl Default for SharedRoutes {
    fn default() -> Self {
        SharedRoutes::new(RouteTable::default())
    }
}

impl SharedRoutes {
    pub fn new(table: RouteTable) -> SharedRoutes {
        SharedRoutes(Live::new(Arc::new(table)))
    }

    /// The table now; requests keep the table they started with.
    pub fn current(&self) -> Arc<RouteTable> {
        self.0.current()
    }

    pub fn replace(&self, table: RouteTable) {
        self.0.replace(Arc::new(table));
    }

    /// Replaces the table only if it is still `seen` (a reload meanwhile wins).
    pub fn replace_if(&self, seen: &Arc<RouteTable>, table: RouteTable) -> bool {
        self.0.replace_if(seen, Arc::new(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pruned_table_never_overwrites_a_reload_made_meanwhile() {
        let routes = SharedRoutes::default();
        let seen = routes.current();
        let reloaded = RouteTable::parse(r#"{"routes": [{"host": "docs.rs", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "tls_passthrough": false, "private": false}], "token_slots": []}"#).unwrap();
        routes.replace(reloaded);
        assert!(!routes.replace_if(&seen, RouteTable::default()));
        assert_eq!(routes.current().routes().len(), 1, "the reload stands");
        let now = routes.current();
        assert!(routes.replace_if(&now, RouteTable::default()));
        assert!(routes.current().routes().is_empty());
    }
}
