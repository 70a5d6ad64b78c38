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
}
