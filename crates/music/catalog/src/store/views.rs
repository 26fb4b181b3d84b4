//! The read-only virtual collections (`files`, `handoffs`, `audit_gaps`): their counts and
//! rows, from the sources behind them.
use super::*;

impl Catalog {
    /// How many records a virtual collection has.
    pub(super) fn virtual_count(&self, collection: &str) -> Result<u64> {
        Ok(match collection {
            FILES => self.files_count(None)?,
            HANDOFFS => match &self.handoffs {
                Some(h) => h.count().map_err(|e| CatalogError::Virtual(format!("handoffs: the ledger: {e}")))?,
                None => 0,
            },
            AUDIT_GAPS => self.with_audit_gaps(|g| g.count()),
            _ => 0,
        })
    }

    /// Records of a virtual collection: one by `key`, or a page after `after`, by key.
    pub(super) fn virtual_rows(
        &self,
        collection: &str,
        key: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        match collection {
            FILES => self.files_page(key, None, after, limit),
            HANDOFFS => match &self.handoffs {
                Some(h) => Ok(h
                    .page(key, after.unwrap_or(""), limit)
                    .map_err(|e| CatalogError::Virtual(format!("handoffs: the ledger: {e}")))?
                    .iter()
                    .map(|(seq, t)| virtuals::handoff_record(*seq, t))
                    .collect()),
                None => Ok(Vec::new()),
            },
            AUDIT_GAPS => Ok(self.with_audit_gaps(|g| g.rows(key, after, limit))),
            _ => Ok(Vec::new()),
        }
    }

    pub(super) fn with_audit_gaps<T>(&self, f: impl FnOnce(&AuditGaps) -> T) -> T {
        let mut cache = self.audit_gaps.borrow_mut();
        let gaps = AuditGaps::load(self.audit_reports.as_deref(), self.audit_source.as_ref(), cache.take());
        let out = f(&gaps);
        *cache = Some(gaps);
        out
    }
}
