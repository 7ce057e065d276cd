//! A table read back from the output's Parquet parts, with typed column access by name.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use repspace_store::tables::read_table;
use repspace_store::{Location, Storage};

use crate::ReportError;

/// The rows of one table (every part of it), possibly empty.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    batches: Vec<RecordBatch>,
}

impl Frame {
    /// Read `out/<table>/`; a table the run did not write is an empty frame.
    pub fn read(storage: &Storage, out: &Location, table: &str) -> Result<Frame, ReportError> {
        let batches = read_table(storage, out, table).map_err(|e| ReportError::Read(format!("{table}: {e}")))?;
        Ok(Frame { batches })
    }

    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has(&self, column: &str) -> bool {
        self.batches.first().is_some_and(|b| b.schema().index_of(column).is_ok())
    }

    /// One value per row of `column` from `cell` (null or absent → None).
    fn cells<T>(&self, column: &str, cell: impl Fn(&dyn Array, usize) -> Option<T>) -> Vec<Option<T>> {
        let mut out = Vec::with_capacity(self.len());
        for b in &self.batches {
            match b.column_by_name(column) {
                Some(a) => out.extend((0..a.len()).map(|i| if a.is_null(i) { None } else { cell(a.as_ref(), i) })),
                None => out.extend(std::iter::repeat_with(|| None).take(b.num_rows())),
            }
        }
        out
    }

    /// A text column (null or absent → None per row). Numbers are formatted.
    pub fn strings(&self, column: &str) -> Vec<Option<String>> {
        self.cells(column, |a, i| match a.data_type() {
            DataType::Utf8 => Some(a.as_string::<i32>().value(i).to_string()),
            DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i).to_string()),
            DataType::Utf8View => Some(a.as_string_view().value(i).to_string()),
            DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(i).to_string()),
            DataType::Int32 => Some(a.as_primitive::<Int32Type>().value(i).to_string()),
            DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(i).to_string()),
            DataType::Boolean => Some(a.as_boolean().value(i).to_string()),
            _ => None,
        })
    }

    /// A numeric column; text that parses as a number counts (metadata columns are text).
    pub fn numbers(&self, column: &str) -> Vec<Option<f64>> {
        self.cells(column, |a, i| match a.data_type() {
            DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(i)),
            DataType::Float32 => Some(a.as_primitive::<Float32Type>().value(i) as f64),
            DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(i) as f64),
            DataType::Int32 => Some(a.as_primitive::<Int32Type>().value(i) as f64),
            DataType::Utf8 => a.as_string::<i32>().value(i).trim().parse().ok(),
            DataType::LargeUtf8 => a.as_string::<i64>().value(i).trim().parse().ok(),
            DataType::Utf8View => a.as_string_view().value(i).trim().parse().ok(),
            _ => None,
        })
    }

    /// A text column with nulls as "".
    pub fn text(&self, column: &str) -> Vec<String> {
        self.strings(column).into_iter().map(Option::unwrap_or_default).collect()
    }
}

impl Frame {
    /// Column names, in schema order (empty for an empty frame).
    pub fn columns(&self) -> Vec<String> {
        self.batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default()
    }
}
