//! The run's tables as the report reads them: rows decoded through the store's table
//! declarations (`repspace_store::tables::Table`), and the models with their metadata.

use std::collections::{BTreeMap, HashMap};

use repspace_store::tables::{
    DistanceRow, EmbeddingRow, EmbeddingSummaryRow, ErrorRow, GeometryPointRow, GeometrySummaryRow, ModelRow,
    PathSummaryRow, Table, read_rows, read_table,
};
use repspace_store::{Location, Storage, StoreError};

use crate::ReportError;

/// The rows of every table the report draws from (a table the run did not write is empty).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    pub distances: Vec<DistanceRow>,
    pub embeddings: Vec<EmbeddingRow>,
    pub embedding_summary: Vec<EmbeddingSummaryRow>,
    pub path_summary: Vec<PathSummaryRow>,
    pub geometry_points: Vec<GeometryPointRow>,
    pub geometry_summary: Vec<GeometrySummaryRow>,
    pub errors: Vec<ErrorRow>,
}

/// The error of reading table `T`.
fn read_error<T: Table>(e: StoreError) -> ReportError {
    ReportError::Read(format!("{}: {e}", T::NAME))
}

/// Every row of table `T` under `out`.
fn rows<T: Table>(storage: &Storage, out: &Location) -> Result<Vec<T>, ReportError> {
    read_rows(storage, out, None).map_err(read_error::<T>)
}

impl Tables {
    /// The models (first) and the other tables, read from `out`.
    pub fn read(storage: &Storage, out: &Location) -> Result<(Models, Tables), ReportError> {
        let models = Models::read(storage, out)?;
        let tables = Tables {
            distances: rows(storage, out)?,
            embeddings: rows(storage, out)?,
            embedding_summary: rows(storage, out)?,
            path_summary: rows(storage, out)?,
            geometry_points: rows(storage, out)?,
            geometry_summary: rows(storage, out)?,
            errors: rows(storage, out)?,
        };
        Ok((models, tables))
    }
}

/// Models and their metadata, from the `models` table.
pub(crate) struct Models {
    pub order: Vec<String>,
    pub meta: HashMap<String, BTreeMap<String, String>>,
    pub layer_index: HashMap<(String, String), i64>,
    /// The metadata columns of the table's first part: the columns `ModelRow` does not declare.
    pub metadata_columns: Vec<String>,
}

impl Models {
    fn read(storage: &Storage, out: &Location) -> Result<Models, ReportError> {
        let batches = read_table(storage, out, ModelRow::NAME).map_err(read_error::<ModelRow>)?;
        let metadata_columns = batches.first().map(|b| ModelRow::dynamic_columns(&b.schema())).unwrap_or_default();
        let mut models =
            Models { order: Vec::new(), meta: HashMap::new(), layer_index: HashMap::new(), metadata_columns };
        for b in &batches {
            let columns = ModelRow::dynamic_columns(&b.schema());
            for row in ModelRow::from_batch(b).map_err(read_error::<ModelRow>)? {
                if !models.meta.contains_key(&row.model_id) {
                    models.order.push(row.model_id.clone());
                    let meta = columns
                        .iter()
                        .zip(row.metadata)
                        .filter(|(c, _)| models.metadata_columns.contains(c))
                        .filter_map(|(c, v)| v.map(|v| (c.clone(), v)))
                        .collect();
                    models.meta.insert(row.model_id.clone(), meta);
                }
                models.layer_index.insert((row.model_id, row.layer), row.layer_index.unwrap_or(0));
            }
        }
        Ok(models)
    }

    pub fn get(&self, model: &str, column: &str) -> Option<&str> {
        self.meta.get(model).and_then(|m| m.get(column)).map(String::as_str)
    }

    pub fn number(&self, model: &str, column: &str) -> Option<f64> {
        self.get(model, column).and_then(|v| v.parse().ok())
    }

    /// The models of the last epoch when there is an `epoch` column, else all.
    pub fn final_models(&self) -> Vec<String> {
        let last = self.order.iter().filter_map(|m| self.number(m, "epoch")).fold(f64::NEG_INFINITY, f64::max);
        if !last.is_finite() {
            return self.order.clone();
        }
        self.order.iter().filter(|m| self.number(m, "epoch") == Some(last)).cloned().collect()
    }

    /// A sort key that groups models by their architecture metadata.
    pub fn sort_key(&self, model: &str) -> (Vec<(i64, String)>, String) {
        let key = ["epoch", "depth", "width", "activation", "seed"]
            .iter()
            .map(|c| match self.get(model, c) {
                Some(v) => v.parse::<f64>().map(|x| ((x * 1e6) as i64, String::new())).unwrap_or((0, v.to_string())),
                None => (0, String::new()),
            })
            .collect();
        (key, model.to_string())
    }
}

#[cfg(test)]
mod tests {
    use repspace_store::tables::{ModelRow, Table, publish_part};

    use super::*;

    #[test]
    fn models_are_read_with_the_metadata_the_declaration_does_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, out) = (Storage::new().unwrap(), Location::from_path(dir.path()).unwrap());
        let row = |id: &str, layer: &str, index: Option<i64>, depth: Option<&str>| ModelRow {
            model_id: id.into(),
            layer: layer.into(),
            layer_index: index,
            uri: format!("file:///{id}.npy"),
            content_hash: "h".into(),
            n_samples: 4,
            n_features: 2,
            shape: "4x2".into(),
            metadata: vec![depth.map(String::from), Some("7".into())],
        };
        let rows = [row("a", "l1", Some(1), Some("2")), row("a", "l2", None, Some("9")), row("b", "l1", Some(1), None)];
        let columns = ["depth".to_string(), "epoch".to_string()];
        publish_part(
            &storage,
            &out,
            "models",
            "part-r-w0000.parquet",
            &ModelRow::to_batch_with(&rows, &columns).unwrap(),
        )
        .unwrap();
        let (models, tables) = Tables::read(&storage, &out).unwrap();
        assert_eq!(models.metadata_columns, columns);
        assert_eq!(models.order, ["a", "b"]);
        assert_eq!(
            (models.get("a", "depth"), models.get("b", "depth"), models.get("b", "epoch")),
            (Some("2"), None, Some("7"))
        );
        assert_eq!(models.layer_index[&("a".to_string(), "l2".to_string())], 0, "a null layer_index counts as 0");
        assert!(tables.distances.is_empty() && tables.embeddings.is_empty(), "tables the run did not write are empty");
    }
}
