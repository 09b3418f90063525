-- Run on SQL Server
-- Is Always On enabled on this SQL Server instance?
declare @IsHadrEnabled sql_variant = (select SERVERPROPERTY('IsHadrEnabled'))
select
    @IsHadrEnabled as IsHadrEnabled,
    case @IsHadrEnabled
        when 0 then 'The AlwaysOn availability groups is disabled.'
        when 1 then 'The AlwaysOn availability groups is enabled.'
        else 'Unknown status.'
    end as 'HadrStatus'
